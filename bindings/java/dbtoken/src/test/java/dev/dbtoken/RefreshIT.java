package dev.dbtoken;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The Java fast path at the library's refresh-ahead time, against the mock issuing 8 s tokens
 * (short-lived: fresh for half their life, 4 s, under the library's rules). */
class RefreshIT {
    private static final String TOKEN_PATH = "/oidc/v1/token";

    @Test
    void sixteenThreadsAtRefreshTimeCauseExactlyOneExchange() throws Exception {
        MockControl mock = new MockControl();
        mock.config("{\"token_ttl_secs\": 8}");
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try (DbToken client = DbToken.fromEnv()) {
            Token first = client.token();
            long refreshAt = client.cachedRefreshAtMillis();
            long left = refreshAt - System.currentTimeMillis();
            assertTrue(left > 0 && left <= 4_000, "refresh_at is " + left + " ms away");
            long exchangesBefore = mock.requests(TOKEN_PATH);

            // 16 threads call token() in a loop from before the refresh time until 2 s after it
            // (refresh_at is whole seconds, up to 1 s before the library's own refresh time, and
            // Java's clock ticks every 200 ms; the next refresh is 4 s later).
            CyclicBarrier start = new CyclicBarrier(16);
            Set<String> seen = ConcurrentHashMap.newKeySet();
            List<Future<Long>> calls = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                calls.add(pool.submit(() -> {
                    start.await();
                    long n = 0;
                    while (System.currentTimeMillis() < refreshAt + 2_000) {
                        seen.add(client.token().accessToken());
                        n++;
                    }
                    return n;
                }));
            }
            long total = 0;
            for (Future<Long> f : calls) total += f.get();

            assertEquals(1, mock.requests(TOKEN_PATH) - exchangesBefore, "token requests the mock saw");
            assertEquals(2, client.stats().refreshes(), "the first token and one refresh");
            assertEquals(2, seen.size(), "the first token until refresh time, then one new token");
            assertTrue(seen.contains(first.accessToken()));
            assertNotEquals(first.accessToken(), client.token().accessToken());
            // Nearly all of the calls were served from Java memory.
            assertTrue(client.libraryCalls() < total / 10,
                    client.libraryCalls() + " of " + total + " calls reached the library");
        } finally {
            pool.shutdownNow();
            mock.config("{\"token_ttl_secs\": 3600}");
        }
    }
}
