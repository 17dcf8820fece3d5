package dev.dbtoken.bench;

import dev.dbtoken.DbToken;
import dev.dbtoken.DbTokenException;
import dev.dbtoken.Token;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/** A cached {@link DbToken#token()} (a volatile read and a clock read) against the peer, an
 * {@link AtomicReference#get()} of a prebuilt Token, on 1 and 2 threads sharing one client. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class TokenBench {
    private DbToken client;
    private AtomicReference<Token> peer;

    @Setup(Level.Trial)
    public void setUp() throws DbTokenException {
        client = DbToken.fromEnv(); // the mock's environment (tests/mock-env.sh)
        peer = new AtomicReference<>(client.token());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        long refreshes = client.stats().refreshes();
        client.close();
        if (refreshes != 1) throw new AssertionError(refreshes + " token requests: a measured call was not a cache hit");
    }

    @Benchmark @Threads(1)
    public Token dbtoken_1thread() throws DbTokenException { return client.token(); }

    @Benchmark @Threads(2)
    public Token dbtoken_2threads() throws DbTokenException { return client.token(); }

    @Benchmark @Threads(1)
    public Token peerAtomicReferenceGet_1thread() { return peer.get(); }

    @Benchmark @Threads(2)
    public Token peerAtomicReferenceGet_2threads() { return peer.get(); }
}
