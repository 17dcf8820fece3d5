package dev.dbtoken;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
        assertEquals("linux-x86_64-musl", NativeLibrary.platform("Linux", "amd64", true));
        assertEquals("linux-aarch64-musl", NativeLibrary.platform("Linux", "arm64", true));
        assertTrue(NativeLibrary.KNOWN_PLATFORMS.containsAll(java.util.List.of(
                "linux-x86_64", "linux-aarch64", "linux-x86_64-musl", "linux-aarch64-musl")));
    }

    /** A stand-in for /proc/self/map_files: one symbolic link per mapped file. */
    private static Path mapFiles(Path dir, String... targets) throws Exception {
        Path d = Files.createDirectories(dir.resolve("map_files"));
        int i = 0;
        for (String t : targets) {
            Files.createSymbolicLink(d.resolve("7f00" + i + "-7f01" + i++), Path.of(t));
        }
        return d;
    }

    @Test
    void muslIsRecognisedByTheLibcMappedIntoTheProcess(@TempDir Path tmp) throws Exception {
        Path debian = Files.writeString(tmp.resolve("os-release"), "ID=debian\nVERSION_ID=\"12\"\n");
        Path glibc = mapFiles(tmp.resolve("glibc"), "/usr/lib/jvm/java-17/lib/server/libjvm.so",
                "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        assertNull(NativeLibrary.detectMusl(glibc, debian));
        Path alpine = mapFiles(tmp.resolve("alpine"), "/usr/lib/jvm/java-17-openjdk/lib/server/libjvm.so",
                "/lib/ld-musl-x86_64.so.1");
        assertEquals(alpine + " maps /lib/ld-musl-x86_64.so.1", NativeLibrary.detectMusl(alpine, debian));
        // Debian's musl package: the loader links to /usr/lib/x86_64-linux-musl/libc.so.
        Path debianMusl = mapFiles(tmp.resolve("debian-musl"), "/usr/lib/x86_64-linux-musl/libc.so");
        assertTrue(NativeLibrary.detectMusl(debianMusl, debian).endsWith("/usr/lib/x86_64-linux-musl/libc.so"));
        // Files that merely have "musl" in their path are not musl's libc.
        Path notLibc = mapFiles(tmp.resolve("data"), "/srv/musl-notes/modules", "/opt/muslim-app/lib/libapp.so",
                "/usr/lib/x86_64-linux-gnu/libc.so.6");
        assertNull(NativeLibrary.detectMusl(notLibc, debian));
        assertTrue(NativeLibrary.isMuslLibc("/lib/libc.musl-aarch64.so.1"));
        assertTrue(NativeLibrary.isMuslLibc("/lib/aarch64-linux-musl/libc.so"));
    }

    @Test
    void withoutMapFilesOsReleaseNamingAlpineDecides(@TempDir Path tmp) throws Exception {
        Path none = tmp.resolve("no-map-files");
        Path alpine = Files.writeString(tmp.resolve("alpine"), "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n");
        String how = NativeLibrary.detectMusl(none, alpine);
        assertTrue(how != null && how.contains("ID=alpine") && how.contains(none + " unreadable"), how);
        Path derived = Files.writeString(tmp.resolve("derived"), "ID=postmarketos\nID_LIKE=\"alpine\"\n");
        assertTrue(NativeLibrary.detectMusl(none, derived).contains("ID_LIKE=alpine"));
        assertNull(NativeLibrary.detectMusl(none, Files.writeString(tmp.resolve("debian"), "ID=debian\n")));
        assertNull(NativeLibrary.detectMusl(none, tmp.resolve("no-os-release")));
    }

    @Test
    void thisGlibcJvmIsNotTakenForMusl() {
        // The test JVM runs on glibc (Debian), even where Debian's musl package is installed.
        assertNull(NativeLibrary.detectMusl(NativeLibrary.MAP_FILES, NativeLibrary.OS_RELEASE));
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
                () -> NativeLibrary.find(null, null, "/nonexistent/a:/nonexistent/b", "Linux", "riscv64", null));
        assertEquals(Status.CONFIG, e.status());
        String m = e.getMessage();
        for (String part : new String[] {"linux-riscv64", "os.arch=riscv64", "-Ddbtoken.library.path (unset)",
                "DBTOKEN_JNI_LIBRARY (unset)", "java.library.path=/nonexistent/a:/nonexistent/b",
                "META-INF/native/linux-riscv64/libdbtoken_jni.so", "libc=glibc", "holds natives for: linux-x86_64"}) {
            assertTrue(m.contains(part), "missing '" + part + "' in: " + m);
        }
    }

    @Test
    void muslWithoutItsNativeIsAClearErrorNamingTheMuslDirectory() {
        // No jar holds riscv64 natives: the message names the musl directory looked for and how
        // musl was recognised.
        String how = "/proc/self/map_files maps /lib/ld-musl-riscv64.so.1";
        DbTokenException e = assertThrows(DbTokenException.class,
                () -> NativeLibrary.find(null, null, "", "Linux", "riscv64", how));
        String m = e.getMessage();
        for (String part : new String[] {"platform: linux-riscv64-musl", "libc=musl: " + how,
                "META-INF/native/linux-riscv64-musl/libdbtoken_jni.so", "holds natives for: linux-x86_64"}) {
            assertTrue(m.contains(part), "missing '" + part + "' in: " + m);
        }
    }

    @Test
    void anExplicitPathThatIsNotThereIsReportedNotSkipped() {
        DbTokenException e = assertThrows(DbTokenException.class,
                () -> NativeLibrary.find("/nonexistent/libdbtoken_jni.so", null, "", "Linux", "amd64", null));
        assertTrue(e.getMessage().contains("-Ddbtoken.library.path names /nonexistent/libdbtoken_jni.so"), e.getMessage());
        e = assertThrows(DbTokenException.class,
                () -> NativeLibrary.find(null, "/nonexistent/env.so", "", "Linux", "amd64", null));
        assertTrue(e.getMessage().contains("DBTOKEN_JNI_LIBRARY names /nonexistent/env.so"), e.getMessage());
    }

    @Test
    void aFileThatIsNotALibraryIsAClearError() throws Exception {
        Path bogus = Files.createTempFile("dbtoken-test-", ".so");
        try {
            Files.writeString(bogus, "not an ELF file");
            DbTokenException e = assertThrows(DbTokenException.class,
                    () -> NativeLibrary.find(bogus.toString(), null, "", "Linux", "amd64", null));
            assertTrue(e.getMessage().startsWith("dbtoken: could not load " + bogus), e.getMessage());
            assertTrue(e.getCause() instanceof UnsatisfiedLinkError);
        } finally {
            Files.delete(bogus);
        }
    }
}
