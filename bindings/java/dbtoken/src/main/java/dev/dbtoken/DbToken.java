package dev.dbtoken;

import java.lang.ref.Cleaner;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A Databricks token provider backed by the dbtoken native library.
 *
 * <pre>{@code
 * try (DbToken dbtoken = DbToken.fromEnv()) {
 *     Token token = dbtoken.token();            // cached; refreshed ahead of expiry
 *     request.header("Authorization", token.authorizationHeader());
 * }
 * }</pre>
 *
 * Safe for concurrent use: any number of threads may call {@link #token()}. A cached token is
 * served from Java memory (two volatile reads: the token and a clock kept by a daemon thread
 * that ticks every 200 ms while a client is open) until the library's refresh-ahead time; after
 * it, callers ask the library, whose single flight makes one token request however many threads
 * arrive. {@link #close()} is idempotent and waits for calls in flight; a
 * {@link Cleaner} frees instances that are never closed.
 *
 * <p>The JNI library is loaded on first use: from {@code -Ddbtoken.library.path} (or the variable
 * {@code DBTOKEN_JNI_LIBRARY}) when set, else from {@code java.library.path} when it holds
 * {@code libdbtoken_jni.so}, else from this jar ({@code META-INF/native/<os>-<arch>/}). When none
 * fits, {@link #fromEnv()} and {@link #create(Map)} throw a {@link DbTokenException} (status
 * {@link Status#CONFIG}) naming the platform and every place looked in.
 */
public final class DbToken implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    /** Owns the native handle; also the Cleaner's action, so it must not reference DbToken. */
    private static final class Handle implements Runnable {
        final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
        long ptr;

        Handle(long ptr) {
            this.ptr = ptr;
            CoarseClock.acquire();
        }

        @Override
        public void run() {
            lock.writeLock().lock();
            try {
                if (ptr != 0) {
                    nativeFree(ptr);
                    ptr = 0;
                    CoarseClock.release();
                }
            } finally {
                lock.writeLock().unlock();
            }
        }
    }

    private final Handle handle;
    private final Cleaner.Cleanable cleanable;
    /** The last token from the library and when to ask again; null before the first or after close. */
    private volatile CachedToken cached;
    /** Calls that reached the library (the slow path only); for tests and diagnostics. */
    private final LongAdder libraryCalls = new LongAdder();

    private DbToken(long ptr) {
        this.handle = new Handle(ptr);
        this.cleanable = CLEANER.register(this, handle);
    }

    /** Configured from the environment and ~/.databrickscfg, as the dbtoken command is. */
    public static DbToken fromEnv() throws DbTokenException {
        NativeLibrary.load();
        return new DbToken(nativeNew(null, null));
    }

    /** Configured with .databrickscfg keys ("host", "client_id", "oidc_token_filepath", ...)
     * that override the environment, which overrides the config file. */
    public static DbToken create(Map<String, String> options) throws DbTokenException {
        NativeLibrary.load();
        Map<String, String> sorted = new TreeMap<>(options);
        return new DbToken(nativeNew(sorted.keySet().toArray(new String[0]), sorted.values().toArray(new String[0])));
    }

    /** A valid token: from memory until the library's refresh-ahead time, then from the library
     * (its cache, or a token request now, blocking). */
    public Token token() throws DbTokenException {
        CachedToken c = cached;
        if (c != null && c.freshAt(CoarseClock.nowMillis)) {
            return c.token;
        }
        return fromLibrary();
    }

    private Token fromLibrary() throws DbTokenException {
        handle.lock.readLock().lock();
        try {
            if (handle.ptr == 0) {
                throw new DbTokenException(Status.INVALID_ARGUMENT.code(), "token() called on a closed DbToken", 0, null, null);
            }
            libraryCalls.increment();
            CachedToken c = nativeToken(handle.ptr);
            cached = c;
            return c.token;
        } finally {
            handle.lock.readLock().unlock();
        }
    }

    /** Token requests started and failed by this client. */
    public Stats stats() {
        handle.lock.readLock().lock();
        try {
            return handle.ptr == 0 ? new Stats(0, 0) : nativeStats(handle.ptr);
        } finally {
            handle.lock.readLock().unlock();
        }
    }

    /** Calls of {@link #token()} that went to the native library (the others were served from memory). */
    long libraryCalls() { return libraryCalls.sum(); }

    /** When the token held in memory must be asked for again (ms since the epoch), or 0 if none. */
    long cachedRefreshAtMillis() {
        CachedToken c = cached;
        return c == null ? 0 : c.refreshAtMillis;
    }

    /** The native library's version. Throws {@link UnsatisfiedLinkError}, with what was looked
     * for and where, when no JNI library fits this platform. */
    public static String version() {
        NativeLibrary.loadOrThrowError();
        return nativeVersion();
    }

    /** Where the JNI library was loaded from ("jar: META-INF/native/linux-x86_64/libdbtoken_jni.so",
     * "java.library.path: /path", "-Ddbtoken.library.path: /path", "DBTOKEN_JNI_LIBRARY: /path"),
     * loading it if not done yet. */
    public static String nativeLibrary() throws DbTokenException { return NativeLibrary.load(); }

    /** Frees the native client once calls in flight are done; later {@link #token()} calls throw. */
    @Override
    public void close() {
        cleanable.clean();
        cached = null;
    }

    private static native String nativeVersion();
    private static native long nativeNew(String[] keys, String[] values) throws DbTokenException;
    private static native CachedToken nativeToken(long ptr) throws DbTokenException;
    private static native Stats nativeStats(long ptr);
    private static native void nativeFree(long ptr);
}
