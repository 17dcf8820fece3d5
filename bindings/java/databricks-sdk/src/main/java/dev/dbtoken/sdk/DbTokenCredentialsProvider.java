package dev.dbtoken.sdk;

import com.databricks.sdk.core.CredentialsProvider;
import com.databricks.sdk.core.DatabricksConfig;
import com.databricks.sdk.core.DatabricksException;
import com.databricks.sdk.core.HeaderFactory;
import com.databricks.sdk.core.oauth.OAuthHeaderFactory;
import dev.dbtoken.DbToken;
import dev.dbtoken.DbTokenException;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

/**
 * Databricks SDK credentials from dbtoken: a federated identity token (Kubernetes service account,
 * AKS workload identity, CI OIDC) exchanged for a Databricks OAuth token, cached and refreshed
 * ahead of expiry by the native library.
 *
 * <pre>{@code
 * WorkspaceClient w = new WorkspaceClient(new DatabricksConfig()
 *         .setHost("https://adb-123.4.azuredatabricks.net")
 *         .setCredentialsProvider(new DbTokenCredentialsProvider()));
 * }</pre>
 *
 * Without arguments, the provider configures dbtoken when the SDK asks for it: the environment
 * and {@code ~/.databrickscfg}, as the {@code dbtoken} command reads them, with the config's host
 * (and account id) on top. {@link #DbTokenCredentialsProvider(Map)} adds dbtoken keys;
 * {@link #DbTokenCredentialsProvider(DbToken)} shares a client the caller owns. Thread-safe; the
 * headers of every request come from {@link DbToken#token()} (served from Java memory while fresh).
 */
public final class DbTokenCredentialsProvider implements CredentialsProvider, AutoCloseable {
    /** The SDK's name for this authentication ({@link DatabricksConfig#getAuthType()}). */
    public static final String AUTH_TYPE = "dbtoken";

    /** Expiry reported to the SDK for a token without one (a personal access token). */
    private static final Duration UNKNOWN_EXPIRY = Duration.ofMinutes(5);

    private final Map<String, String> options;
    private final DbToken shared;
    private DbToken owned;

    /** dbtoken configured from the environment, with the SDK config's host. */
    public DbTokenCredentialsProvider() { this(Map.of()); }

    /** dbtoken configured with these .databrickscfg keys on top of the environment, with the SDK
     * config's host and account id unless the keys name them. */
    public DbTokenCredentialsProvider(Map<String, String> options) {
        this.options = Map.copyOf(options);
        this.shared = null;
    }

    /** Tokens from this client, which the caller closes. */
    public DbTokenCredentialsProvider(DbToken client) {
        this.options = Map.of();
        this.shared = client;
    }

    @Override
    public String authType() { return AUTH_TYPE; }

    @Override
    public HeaderFactory configure(DatabricksConfig config) {
        DbToken client = client(config);
        return OAuthHeaderFactory.fromTokenSource(() -> {
            try {
                dev.dbtoken.Token t = client.token();
                Instant expiry = t.expiry() != null ? t.expiry() : Instant.now().plus(UNKNOWN_EXPIRY);
                return new com.databricks.sdk.core.oauth.Token(t.accessToken(), t.tokenType(), expiry);
            } catch (DbTokenException e) {
                throw new DatabricksException("dbtoken: " + e.getMessage(), e);
            }
        });
    }

    private synchronized DbToken client(DatabricksConfig config) {
        if (shared != null) return shared;
        if (owned != null) return owned;
        Map<String, String> keys = new HashMap<>();
        if (config.getHost() != null) keys.put("host", config.getHost());
        if (config.getAccountId() != null) keys.put("account_id", config.getAccountId());
        keys.putAll(options);
        try {
            owned = DbToken.create(keys);
        } catch (DbTokenException e) {
            throw new DatabricksException("dbtoken: " + e.getMessage(), e);
        }
        return owned;
    }

    /** Closes the dbtoken client this provider made (not one passed in). */
    @Override
    public synchronized void close() {
        if (owned != null) {
            owned.close();
            owned = null;
        }
    }
}
