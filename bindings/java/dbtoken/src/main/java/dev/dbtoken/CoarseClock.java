package dev.dbtoken;

/**
 * Wall-clock milliseconds, read from a volatile field that a daemon thread updates every
 * {@link #TICK_MILLIS} ms while any {@link DbToken} is open. A clock read costs 70-90 ns on
 * some virtual machines (a trapped TSC read, measured by bench/bindings.sh' ClockBench); this
 * read costs a plain load, so a cached {@code token()} stays in the few-nanosecond range.
 *
 * <p>It lags the real clock by at most one tick plus scheduling delay, so a token is served
 * from memory for up to that long past the library's refresh-ahead time: the library refreshes
 * minutes (at least 40 s) before expiry. After a suspend, the ticker's next wake-up (within one
 * tick of monotonic time) catches the clock up.
 */
final class CoarseClock {
    static final long TICK_MILLIS = 200;

    /** The last reading; only written by the ticker and by {@link #acquire()}. */
    static volatile long nowMillis = System.currentTimeMillis();

    private static int users;
    private static Thread ticker;

    private CoarseClock() {}

    /** Called by each new client: the ticker runs while there is one. */
    static synchronized void acquire() {
        nowMillis = System.currentTimeMillis();
        if (users++ == 0) {
            ticker = new Thread(CoarseClock::tick, "dbtoken-clock");
            ticker.setDaemon(true);
            ticker.start();
        }
    }

    /** Called once per client when it is freed (close or Cleaner). */
    static synchronized void release() {
        if (--users == 0) {
            ticker.interrupt();
            ticker = null;
        }
    }

    private static void tick() {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                nowMillis = System.currentTimeMillis();
                Thread.sleep(TICK_MILLIS);
            }
        } catch (InterruptedException e) {
            // released: the last client is gone
        }
    }

    /** Whether the ticker runs (tests). */
    static synchronized boolean running() { return ticker != null; }
}
