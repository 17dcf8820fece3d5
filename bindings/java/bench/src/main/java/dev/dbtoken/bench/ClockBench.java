package dev.dbtoken.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;

/** What a clock read costs here: why DbToken's fast path reads a ticked volatile instead. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class ClockBench {
    @Benchmark @Threads(1)
    public long currentTimeMillis_1thread() { return System.currentTimeMillis(); }

    @Benchmark @Threads(2)
    public long currentTimeMillis_2threads() { return System.currentTimeMillis(); }
}
