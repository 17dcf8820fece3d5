package dev.dbtoken.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.databricks.sdk.core.DatabricksConfig;
import com.databricks.sdk.core.DatabricksException;
import com.databricks.sdk.core.HeaderFactory;
import com.databricks.sdk.core.oauth.OAuthHeaderFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** No server: the provider inside the real SDK's DatabricksConfig, with a personal access token
 * (returned by dbtoken without a request). */
class DbTokenCredentialsProviderTest {
    private static final String PAT = "dapi-sdk-unit-test-not-a-real-token";

    @Test
    void theSdkConfigTakesItsHeadersFromDbToken() {
        try (DbTokenCredentialsProvider p = new DbTokenCredentialsProvider(Map.of("auth_type", "pat", "token", PAT))) {
            DatabricksConfig config = new DatabricksConfig().setHost("https://127.0.0.1:9").setCredentialsProvider(p);
            Map<String, String> headers = config.authenticate();
            assertEquals("Bearer " + PAT, headers.get("Authorization"));
            assertEquals("dbtoken", config.getAuthType());
        }
    }

    @Test
    void aTokenWithoutExpiryIsReportedAsShortLived() {
        try (DbTokenCredentialsProvider p = new DbTokenCredentialsProvider(Map.of("auth_type", "pat", "token", PAT))) {
            HeaderFactory f = p.configure(new DatabricksConfig().setHost("https://127.0.0.1:9"));
            com.databricks.sdk.core.oauth.Token t = ((OAuthHeaderFactory) f).getToken();
            assertEquals(PAT, t.getAccessToken());
            Duration left = Duration.between(Instant.now(), t.getExpiry());
            assertTrue(!left.isNegative() && left.compareTo(Duration.ofMinutes(5)) <= 0, left.toString());
        }
    }

    @Test
    void aBadKeyIsAnSdkErrorNamingIt() {
        DbTokenCredentialsProvider p = new DbTokenCredentialsProvider(Map.of("hots", "x"));
        DatabricksException e = assertThrows(DatabricksException.class,
                () -> p.configure(new DatabricksConfig().setHost("https://127.0.0.1:9")));
        assertTrue(e.getMessage().startsWith("dbtoken: ") && e.getMessage().contains("'hots'"), e.getMessage());
        assertFalse(e.getMessage().contains(PAT));
    }
}
