package dev.dbtoken;

/** A token with the library's refresh-ahead time: {@link DbToken#token()} returns it from Java
 * memory until then and asks the library again after it (the refresh rules stay the library's).
 * Immutable, so a volatile reference publishes it safely. Made by the JNI shim. */
final class CachedToken {
    final Token token;
    /** Milliseconds since the epoch after which the library must be asked again. */
    final long refreshAtMillis;

    /** @param refreshAt the C ABI's {@code refresh_at}: Unix seconds, 0 = never (a PAT). */
    CachedToken(Token token, long refreshAt) {
        this.token = token;
        this.refreshAtMillis = refreshAt <= 0 ? Long.MAX_VALUE
                : refreshAt >= Long.MAX_VALUE / 1000 ? Long.MAX_VALUE : refreshAt * 1000;
    }

    boolean freshAt(long nowMillis) { return nowMillis < refreshAtMillis; }
}
