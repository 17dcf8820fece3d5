package dev.dbtoken;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** No server: the API over the real native library, with a personal access token (which the
 * library returns without a request) and configuration errors. */
class DbTokenTest {
    private static final String PAT = "dapi-unit-test-not-a-real-token";

    private static DbToken patClient() throws DbTokenException {
        return DbToken.create(Map.of("host", "https://127.0.0.1:9", "auth_type", "pat", "token", PAT));
    }

    @Test
    void aTokenIsServedFromJavaMemoryUntilItsRefreshTime() throws Exception {
        try (DbToken client = patClient()) {
            Token t = client.token();
            assertEquals(PAT, t.accessToken());
            assertNull(t.expiry(), "a PAT has no expiry");
            for (int i = 0; i < 100_000; i++) {
                assertSame(t, client.token());
            }
            // refresh_at = 0 (never): one call reached the library, the rest were Java reads.
            assertEquals(1, client.libraryCalls());
        }
    }

    @Test
    void theClockTicksOnlyWhileAClientIsOpen() throws Exception {
        DbToken client = patClient();
        assertTrue(CoarseClock.running());
        long before = CoarseClock.nowMillis;
        Thread.sleep(3 * CoarseClock.TICK_MILLIS);
        assertTrue(CoarseClock.nowMillis > before, "the clock did not tick");
        client.close();
        assertFalse(CoarseClock.running(), "the ticker outlived the last client");
    }

    @Test
    void refreshTimeIsTheLibrarysWord() {
        Token t = new Token("x", "Bearer", 0);
        assertTrue(new CachedToken(t, 0).freshAt(Long.MAX_VALUE - 1), "0 means never");
        CachedToken c = new CachedToken(t, 1_700_000_000L);
        assertTrue(c.freshAt(1_699_999_999_999L));
        assertFalse(c.freshAt(1_700_000_000_000L));
        assertTrue(new CachedToken(t, Long.MAX_VALUE / 10).freshAt(Long.MAX_VALUE - 1), "no overflow");
    }

    @Test
    void unknownKeyIsAConfigError() {
        DbTokenException e = assertThrows(DbTokenException.class, () -> DbToken.create(Map.of("hots", "https://x")));
        assertEquals(Status.CONFIG, e.status());
        assertTrue(e.getMessage().contains("'hots'"), e.getMessage());
    }

    @Test
    void closeIsIdempotentAndTokenAfterCloseFails() throws Exception {
        DbToken client = patClient();
        client.token();
        client.close();
        client.close();
        DbTokenException e = assertThrows(DbTokenException.class, client::token);
        assertEquals(Status.INVALID_ARGUMENT, e.status());
        assertEquals(new Stats(0, 0), client.stats());
    }

    @Test
    void toStringNeverShowsTheToken() throws Exception {
        try (DbToken client = patClient()) {
            Token t = client.token();
            assertFalse(t.toString().contains(PAT), t.toString());
            assertEquals("Bearer " + PAT, t.authorizationHeader());
        }
    }
}
