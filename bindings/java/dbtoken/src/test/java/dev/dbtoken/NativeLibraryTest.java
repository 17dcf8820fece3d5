package dev.dbtoken;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** No server: how the JNI library is found, and what a user sees when it is not. */
class NativeLibraryTest {
    @Test
    void platformNamesMatchTheJarDirectories() {
        assertEquals("linux-x86_64", NativeLibrary.platform("Linux", "amd64"));
        assertEquals("linux-x86_64", NativeLibrary.platform("Linux", "x86_64"));
        assertEquals("linux-aarch64", NativeLibrary.platform("Linux", "aarch64"));
        assertEquals("osx-aarch64", NativeLibrary.platform("Mac OS X", "aarch64"));
        assertEquals("windows-x86_64", NativeLibrary.platform("Windows 11", "amd64"));
        assertEquals("META-INF/native/linux-x86_64/libdbtoken_jni.so", NativeLibrary.resource("linux-x86_64"));
    }

    @Test
    void loadsFromTheJarWithoutAnyPathSet() throws Exception {
        // Surefire sets neither -Ddbtoken.library.path nor DBTOKEN_JNI_LIBRARY here.
        String from = DbToken.nativeLibrary();
        assertEquals("jar: " + NativeLibrary.resource(NativeLibrary.platform(
                System.getProperty("os.name"), System.getProperty("os.arch"))), from);
        assertTrue(DbToken.version().matches("\\d+\\.\\d+\\.\\d+.*"), DbToken.version());
        // Copied to a private temporary directory and removed once mapped: nothing left on disk.
        String mapped = Files.readAllLines(Path.of("/proc/self/maps")).stream()
                .filter(l -> l.contains("libdbtoken_jni.so")).findFirst().orElseThrow();
        assertTrue(mapped.contains("/dbtoken-jni-") && mapped.endsWith("(deleted)"), mapped);
    }

    @Test
    void aPlatformWithoutNativesIsAClearError() {
        DbTokenException e = assertThrows(DbTokenException.class,
                () -> NativeLibrary.find(null, null, "/nonexistent/a:/nonexistent/b", "Linux", "riscv64"));
        assertEquals(Status.CONFIG, e.status());
        String m = e.getMessage();
        for (String part : new String[] {"linux-riscv64", "os.arch=riscv64", "-Ddbtoken.library.path (unset)",
                "DBTOKEN_JNI_LIBRARY (unset)", "java.library.path=/nonexistent/a:/nonexistent/b",
                "META-INF/native/linux-riscv64/libdbtoken_jni.so", "holds natives for: linux-x86_64"}) {
            assertTrue(m.contains(part), "missing '" + part + "' in: " + m);
        }
    }

    @Test
    void anExplicitPathThatIsNotThereIsReportedNotSkipped() {
        DbTokenException e = assertThrows(DbTokenException.class,
                () -> NativeLibrary.find("/nonexistent/libdbtoken_jni.so", null, "", "Linux", "amd64"));
        assertTrue(e.getMessage().contains("-Ddbtoken.library.path names /nonexistent/libdbtoken_jni.so"), e.getMessage());
        e = assertThrows(DbTokenException.class,
                () -> NativeLibrary.find(null, "/nonexistent/env.so", "", "Linux", "amd64"));
        assertTrue(e.getMessage().contains("DBTOKEN_JNI_LIBRARY names /nonexistent/env.so"), e.getMessage());
    }

    @Test
    void aFileThatIsNotALibraryIsAClearError() throws Exception {
        Path bogus = Files.createTempFile("dbtoken-test-", ".so");
        try {
            Files.writeString(bogus, "not an ELF file");
            DbTokenException e = assertThrows(DbTokenException.class,
                    () -> NativeLibrary.find(bogus.toString(), null, "", "Linux", "amd64"));
            assertTrue(e.getMessage().startsWith("dbtoken: could not load " + bogus), e.getMessage());
            assertTrue(e.getCause() instanceof UnsatisfiedLinkError);
        } finally {
            Files.delete(bogus);
        }
    }
}
