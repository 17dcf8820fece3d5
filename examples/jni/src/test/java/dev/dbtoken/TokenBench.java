package dev.dbtoken;

import java.util.concurrent.atomic.AtomicReference;

/** ns per cached {@code token()} call from Java (1 thread and every core), against a peer in
 * the same run: an AtomicReference read of a prebuilt Token. Run by bench/bindings.sh. */
public final class TokenBench {
    static volatile Object sink;

    interface Call { Object call() throws Exception; }

    static double measure(Call c, int threads, long iters) throws Exception {
        Thread[] ts = new Thread[threads];
        long start = System.nanoTime();
        for (int i = 0; i < threads; i++) {
            ts[i] = new Thread(() -> {
                try {
                    for (long j = 0; j < iters; j++) sink = c.call();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            ts[i].start();
        }
        for (Thread t : ts) t.join();
        return (System.nanoTime() - start) / (double) iters;
    }

    public static void main(String[] args) throws Exception {
        long iters = 2_000_000;
        int cores = Runtime.getRuntime().availableProcessors();
        try (DbToken client = DbToken.fromEnv()) {
            Token first = client.token();
            AtomicReference<Token> peer = new AtomicReference<>(first);
            measure(client::token, 1, iters); // warm-up (JIT)
            measure(peer::get, 1, iters);
            double d1 = measure(client::token, 1, iters), dn = measure(client::token, cores, iters);
            double p1 = measure(peer::get, 1, iters), pn = measure(peer::get, cores, iters);
            System.out.printf("Java DbToken.token()     1 thread: %6.1f ns/call   %d threads: %6.1f ns/call%n", d1, cores, dn);
            System.out.printf("Java peer AtomicRef.get  1 thread: %6.1f ns/call   %d threads: %6.1f ns/call%n", p1, cores, pn);
            if (client.stats().refreshes() != 1) throw new AssertionError("a measured call was not a cache hit");
        }
    }
}
