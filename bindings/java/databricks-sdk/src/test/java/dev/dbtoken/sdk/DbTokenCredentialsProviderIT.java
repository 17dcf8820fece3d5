package dev.dbtoken.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.databricks.sdk.WorkspaceClient;
import com.databricks.sdk.core.DatabricksConfig;
import com.databricks.sdk.core.DatabricksException;
import com.databricks.sdk.service.iam.MeRequest;
import com.databricks.sdk.service.iam.User;
import dev.dbtoken.DbToken;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The real databricks-sdk-java (0.141.0: {@code me} takes a {@code MeRequest}) against the loopback mock (tests/bindings.sh java): the mock's
 * SCIM Me answers only a token it issued. The JVM trusts the mock's CA through
 * -Djavax.net.ssl.trustStore (built with keytool by the test script). */
class DbTokenCredentialsProviderIT {
    private static final String HOST = System.getenv("DATABRICKS_HOST");

    @Test
    void workspaceClientWithTheHostFromItsConfig() {
        assertNotNull(System.getProperty("javax.net.ssl.trustStore"), "run by tests/bindings.sh java");
        try (DbTokenCredentialsProvider p = new DbTokenCredentialsProvider()) {
            WorkspaceClient w = new WorkspaceClient(new DatabricksConfig().setHost(HOST).setCredentialsProvider(p));
            User me = w.currentUser().me(new MeRequest());
            assertEquals("dbtoken-mock-sp", me.getUserName());
            assertEquals("dbtoken", w.config().getAuthType());
        }
    }

    @Test
    void workspaceClientSharingADbTokenClient() throws Exception {
        try (DbToken dbtoken = DbToken.create(Map.of("host", HOST))) {
            WorkspaceClient w = new WorkspaceClient(new DatabricksConfig().setHost(HOST)
                    .setCredentialsProvider(new DbTokenCredentialsProvider(dbtoken)));
            for (int i = 0; i < 3; i++) {
                assertEquals("dbtoken-mock-sp", w.currentUser().me(new MeRequest()).getUserName());
            }
            assertEquals(1, dbtoken.stats().refreshes(), "three requests, one token exchange");
        }
    }

    @Test
    void aFailureReachesTheCallerWithDbTokensMessage() {
        try (DbTokenCredentialsProvider p = new DbTokenCredentialsProvider(
                Map.of("oidc_token_filepath", "/nonexistent/dbtoken/sdk-test"))) {
            WorkspaceClient w = new WorkspaceClient(new DatabricksConfig().setHost(HOST).setCredentialsProvider(p));
            DatabricksException e = assertThrows(DatabricksException.class, () -> w.currentUser().me(new MeRequest()));
            String all = e.toString() + (e.getCause() != null ? " / " + e.getCause() : "");
            assertTrue(all.contains("/nonexistent/dbtoken/sdk-test"), all);
        }
    }
}
