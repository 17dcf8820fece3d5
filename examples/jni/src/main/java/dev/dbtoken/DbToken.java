package dev.dbtoken;

import java.lang.ref.Cleaner;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
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
 * Safe for concurrent use: any number of threads may call {@link #token()}; concurrent callers
 * on an empty cache cause one token request. {@link #close()} is idempotent and waits for calls
 * in flight; a {@link Cleaner} frees instances that are never closed.
 *
 * <p>The native library {@code libdbtoken_jni.so} is loaded once, from the path in the system
 * property {@code dbtoken.library.path} (or the variable {@code DBTOKEN_JNI_LIBRARY}) when set,
 * otherwise from {@code java.library.path}.
 */
public final class DbToken implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    /** How the native library was loaded: an explicit path, or "java.library.path". */
    public static final String LOADED_FROM = load();

    private static String load() {
        String explicit = System.getProperty("dbtoken.library.path", System.getenv("DBTOKEN_JNI_LIBRARY"));
        if (explicit != null && !explicit.isEmpty()) {
            System.load(Path.of(explicit).toAbsolutePath().toString());
            return explicit;
        }
        System.loadLibrary("dbtoken_jni");
        return "java.library.path";
    }

    /** Owns the native handle; also the Cleaner's action, so it must not reference DbToken. */
    private static final class Handle implements Runnable {
        final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
        long ptr;

        Handle(long ptr) { this.ptr = ptr; }

        @Override
        public void run() {
            lock.writeLock().lock();
            try {
                if (ptr != 0) {
                    nativeFree(ptr);
                    ptr = 0;
                }
            } finally {
                lock.writeLock().unlock();
            }
        }
    }

    private final Handle handle;
    private final Cleaner.Cleanable cleanable;

    private DbToken(long ptr) {
        this.handle = new Handle(ptr);
        this.cleanable = CLEANER.register(this, handle);
    }

    /** Configured from the environment and ~/.databrickscfg, as the dbtoken command is. */
    public static DbToken fromEnv() throws DbTokenException {
        return new DbToken(nativeNew(null, null));
    }

    /** Configured with .databrickscfg keys ("host", "client_id", "oidc_token_filepath", ...)
     * that override the environment, which overrides the config file. */
    public static DbToken create(Map<String, String> options) throws DbTokenException {
        Map<String, String> sorted = new TreeMap<>(options);
        return new DbToken(nativeNew(sorted.keySet().toArray(new String[0]), sorted.values().toArray(new String[0])));
    }

    /** A valid token: from the cache while fresh, otherwise obtained now (blocking). */
    public Token token() throws DbTokenException {
        handle.lock.readLock().lock();
        try {
            if (handle.ptr == 0) {
                throw new DbTokenException(Status.INVALID_ARGUMENT.code(), "token() called on a closed DbToken", 0, null, null);
            }
            return nativeToken(handle.ptr);
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

    /** The native library's version. */
    public static String version() { return nativeVersion(); }

    @Override
    public void close() { cleanable.clean(); }

    private static native String nativeVersion();
    private static native long nativeNew(String[] keys, String[] values) throws DbTokenException;
    private static native Token nativeToken(long ptr) throws DbTokenException;
    private static native Stats nativeStats(long ptr);
    private static native void nativeFree(long ptr);
}
