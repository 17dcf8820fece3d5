package dev.dbtoken;

import java.time.Instant;

/** A Databricks access token; send it as {@code Authorization: <tokenType> <accessToken>}.
 * {@link #toString()} never shows the token. */
public record Token(String accessToken, String tokenType, long expiresOn) {
    /** When the token expires, or null for a personal access token. */
    public Instant expiry() { return expiresOn > 0 ? Instant.ofEpochSecond(expiresOn) : null; }

    /** The value of the Authorization header. */
    public String authorizationHeader() { return tokenType + " " + accessToken; }

    @Override
    public String toString() {
        return tokenType + " token (" + accessToken.length() + " chars, expires " + expiry() + ")";
    }
}
