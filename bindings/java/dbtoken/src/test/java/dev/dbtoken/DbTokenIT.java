package dev.dbtoken;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Against the loopback mock, on the packaged jar (failsafe, profile "mock"): run by
 * tests/bindings.sh java, which starts the mock and exports DATABRICKS_HOST, SSL_CERT_FILE,
 * DATABRICKS_OIDC_TOKEN_FILEPATH and DBTOKEN_MOCK_M2M_CLIENT_ID. */
class DbTokenIT {
    @BeforeAll
    static void mockIsRunning() {
        for (String v : List.of("DATABRICKS_HOST", "SSL_CERT_FILE", "DATABRICKS_OIDC_TOKEN_FILEPATH", "DBTOKEN_MOCK_M2M_CLIENT_ID")) {
            assertNotNull(System.getenv(v), v + " is not set: run tests/bindings.sh java");
        }
    }

    @Test
    void loadsTheWayItWasAskedTo() throws Exception {
        String from = DbToken.nativeLibrary();
        boolean inLibraryPath = Arrays.stream(System.getProperty("java.library.path").split(File.pathSeparator))
                .anyMatch(d -> !d.isEmpty() && Files.isRegularFile(Path.of(d, "libdbtoken_jni.so")));
        if (System.getProperty("dbtoken.library.path") != null) {
            assertTrue(from.startsWith("-Ddbtoken.library.path: "), from);
        } else if (!System.getenv().getOrDefault("DBTOKEN_JNI_LIBRARY", "").isEmpty()) { // empty = unset
            assertTrue(from.startsWith("DBTOKEN_JNI_LIBRARY: "), from);
        } else if (inLibraryPath) {
            assertTrue(from.startsWith("java.library.path: "), from);
        } else {
            assertTrue(from.startsWith("jar: META-INF/native/linux-"), from);
        }
        assertTrue(DbToken.version().contains("."));
    }

    @Test
    void fromEnvGetsAndCachesAToken() throws Exception {
        try (DbToken client = DbToken.fromEnv()) {
            Token t = client.token();
            assertEquals("Bearer", t.tokenType());
            assertFalse(t.accessToken().isEmpty());
            Duration left = Duration.between(Instant.now(), t.expiry());
            assertTrue(left.toMinutes() >= 50 && left.toMinutes() <= 60, left.toString());
            assertFalse(t.toString().contains(t.accessToken()), "toString shows the token");
            assertEquals(t.accessToken(), client.token().accessToken());
            assertEquals(1, client.stats().refreshes());
        }
    }

    @Test
    void explicitOptions() throws Exception {
        try (DbToken client = DbToken.create(Map.of("auth_type", "file-oidc", "ca_bundle", System.getenv("SSL_CERT_FILE")))) {
            assertFalse(client.token().accessToken().isEmpty());
        }
    }

    @Test
    void unknownKeyIsAConfigError() {
        DbTokenException e = assertThrows(DbTokenException.class, () -> DbToken.create(Map.of("hots", "https://x")));
        assertEquals(Status.CONFIG, e.status());
        assertTrue(e.getMessage().contains("'hots'"), e.getMessage());
    }

    @Test
    void serverRejectionCarriesTheServerError() throws Exception {
        String secret = "wrong-secret-for-the-java-test";
        try (DbToken client = DbToken.create(Map.of("auth_type", "oauth-m2m",
                "client_id", System.getenv("DBTOKEN_MOCK_M2M_CLIENT_ID"), "client_secret", secret))) {
            DbTokenException e = assertThrows(DbTokenException.class, client::token);
            assertEquals(Status.REJECTED, e.status());
            assertEquals(401, e.httpStatus());
            assertEquals("invalid_client", e.serverError());
            assertTrue(e.serverDescription().contains("Client authentication failed"), e.serverDescription());
            assertFalse(e.getMessage().contains(secret), "the secret leaked into the message");
            assertEquals(1, client.stats().failures());
        }
    }

    @Test
    void federatedTokenError() throws Exception {
        try (DbToken client = DbToken.create(Map.of("oidc_token_filepath", "/nonexistent/dbtoken/java-test"))) {
            DbTokenException e = assertThrows(DbTokenException.class, client::token);
            assertEquals(Status.FEDERATED_TOKEN, e.status());
            assertTrue(e.getMessage().contains("/nonexistent/dbtoken/java-test"), e.getMessage());
        }
    }

    @Test
    void threadPoolSharesOneClientAndOneExchange() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try (DbToken client = DbToken.fromEnv()) {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                results.add(pool.submit(() -> {
                    start.await();
                    String last = null;
                    for (int j = 0; j < 100; j++) {
                        last = client.token().accessToken();
                    }
                    return last;
                }));
            }
            start.countDown();
            String first = results.get(0).get();
            for (Future<String> f : results) {
                assertEquals(first, f.get());
            }
            assertEquals(1, client.stats().refreshes(), "6400 calls on 16 threads must cause one exchange");
            assertTrue(client.libraryCalls() <= 64, "served from Java memory: " + client.libraryCalls() + " library calls");
        } finally {
            pool.shutdownNow();
        }
    }
}
