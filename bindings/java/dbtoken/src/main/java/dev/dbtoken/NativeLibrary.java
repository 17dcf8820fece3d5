package dev.dbtoken;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Finds and loads {@code libdbtoken_jni} once, on first use (never in a static initialiser, so
 * a missing library is a clear {@link DbTokenException}, not an {@code ExceptionInInitializerError}).
 * First match wins:
 * <ol>
 *   <li>the system property {@code dbtoken.library.path}, then the variable
 *       {@code DBTOKEN_JNI_LIBRARY}: a file to load (a failure there is reported, not skipped);</li>
 *   <li>{@code java.library.path}: a directory holding {@code libdbtoken_jni.so};</li>
 *   <li>this jar: {@code META-INF/native/<os>-<arch>[-musl]/libdbtoken_jni.so}, copied to a new
 *       private directory (mode 0700) under {@code java.io.tmpdir} and removed once loaded.
 *       {@code -musl} where this JVM runs on musl (Alpine): see {@link #detectMusl}.</li>
 * </ol>
 */
final class NativeLibrary {
    static final String PROPERTY = "dbtoken.library.path";
    static final String ENV = "DBTOKEN_JNI_LIBRARY";
    /** Platforms a jar built by scripts/dist/java.sh may hold. */
    static final List<String> KNOWN_PLATFORMS =
            List.of("linux-x86_64", "linux-aarch64", "linux-x86_64-musl", "linux-aarch64-musl");
    static final Path MAP_FILES = Path.of("/proc/self/map_files");
    static final Path OS_RELEASE = Path.of("/etc/os-release");

    private static String loadedFrom;
    private static String failure;

    private NativeLibrary() {}

    /** Loads the library unless done; returns where it came from. */
    static synchronized String load() throws DbTokenException {
        if (loadedFrom != null) return loadedFrom;
        if (failure != null) throw error(failure, null);
        try {
            String osName = System.getProperty("os.name", "");
            loadedFrom = find(System.getProperty(PROPERTY), System.getenv(ENV),
                    System.getProperty("java.library.path", ""), osName, System.getProperty("os.arch", ""),
                    osName.toLowerCase(Locale.ROOT).startsWith("linux") ? detectMusl(MAP_FILES, OS_RELEASE) : null);
            return loadedFrom;
        } catch (DbTokenException e) {
            failure = e.getMessage();
            throw e;
        }
    }

    /** For callers without a checked exception ({@link DbToken#version()}). */
    static String loadOrThrowError() {
        try {
            return load();
        } catch (DbTokenException e) {
            UnsatisfiedLinkError err = new UnsatisfiedLinkError(e.getMessage());
            err.initCause(e);
            throw err;
        }
    }

    /**
     * How this process was found to run on musl libc (Alpine), or null for glibc. The C library a
     * process runs on is the one mapped into it, so first the files mapped into this JVM
     * ({@code /proc/self/map_files}, as sqlite-jdbc does): musl's is {@code ld-musl-ARCH.so.1}
     * (Alpine also names it {@code libc.musl-ARCH.so.1}; Debian's musl package
     * {@code /usr/lib/ARCH-linux-musl/libc.so}). Where those links cannot be read (a kernel
     * before 4.3 without CAP_SYS_ADMIN, a restricted /proc), {@code /etc/os-release} naming
     * Alpine ({@code ID} or {@code ID_LIKE}) decides.
     */
    static String detectMusl(Path mapFiles, Path osRelease) {
        boolean read = false;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(mapFiles)) {
            for (Path entry : entries) {
                String target;
                try {
                    target = Files.readSymbolicLink(entry).toString();
                } catch (IOException | UnsupportedOperationException | SecurityException e) {
                    continue;
                }
                read = true;
                if (isMuslLibc(target)) return mapFiles + " maps " + target;
            }
        } catch (IOException | SecurityException e) {
            // not readable: /etc/os-release decides
        }
        if (read) return null;
        try {
            for (String line : Files.readAllLines(osRelease)) {
                int eq = line.indexOf('=');
                if (eq < 0) continue;
                String key = line.substring(0, eq).trim();
                String value = line.substring(eq + 1).trim().replace("\"", "").replace("'", "");
                if ((key.equals("ID") || key.equals("ID_LIKE"))
                        && List.of(value.toLowerCase(Locale.ROOT).split("\\s+")).contains("alpine")) {
                    return osRelease + " says " + key + "=" + value + " (" + mapFiles + " unreadable)";
                }
            }
        } catch (IOException | SecurityException e) {
            // neither readable: glibc, the common case
        }
        return null;
    }

    /** musl's libc by its file name: ld-musl-ARCH.so.1, libc.musl-ARCH.so.1, or ARCH-linux-musl/libc.so. */
    static boolean isMuslLibc(String path) {
        int slash = path.lastIndexOf('/');
        String name = path.substring(slash + 1);
        String dir = slash > 0 ? path.substring(path.lastIndexOf('/', slash - 1) + 1, slash) : "";
        return name.startsWith("ld-musl-") || name.startsWith("libc.musl-")
                || (name.equals("libc.so") && dir.endsWith("-linux-musl"));
    }

    /** "linux-x86_64" for the os.name and os.arch properties, as the jar's directories are named. */
    static String platform(String osName, String osArch) {
        return platform(osName, osArch, false);
    }

    /** As {@link #platform(String, String)}, with "-musl" appended for a musl libc. */
    static String platform(String osName, String osArch, boolean musl) {
        String os = osName.toLowerCase(Locale.ROOT);
        os = os.startsWith("linux") ? "linux"
                : os.startsWith("mac") || os.startsWith("darwin") ? "osx"
                : os.startsWith("windows") ? "windows"
                : os.replaceAll("[^a-z0-9]+", "");
        String arch = osArch.toLowerCase(Locale.ROOT);
        arch = switch (arch) {
            case "amd64", "x86_64", "x86-64", "x64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch.replaceAll("[^a-z0-9_]+", "");
        };
        return os + "-" + arch + (musl ? "-musl" : "");
    }

    static String resource(String platform) {
        return "META-INF/native/" + platform + "/" + System.mapLibraryName("dbtoken_jni");
    }

    /**
     * The search, with its inputs as arguments so tests can give any platform. {@code musl} is
     * {@link #detectMusl}'s answer: null for glibc, else how musl was recognised.
     */
    static String find(String property, String env, String libraryPath, String osName, String osArch, String musl)
            throws DbTokenException {
        if (property != null && !property.isEmpty()) return loadFile(Path.of(property), "-D" + PROPERTY);
        if (env != null && !env.isEmpty()) return loadFile(Path.of(env), ENV);
        List<String> looked = new ArrayList<>();
        looked.add("-D" + PROPERTY + " (unset)");
        looked.add(ENV + " (unset)");
        String name = System.mapLibraryName("dbtoken_jni");
        for (String dir : libraryPath.split(java.io.File.pathSeparator)) {
            if (dir.isEmpty()) continue;
            Path candidate = Path.of(dir, name);
            if (Files.isRegularFile(candidate)) return loadFile(candidate, "java.library.path");
        }
        looked.add("java.library.path=" + libraryPath + " (no " + name + ")");
        String platform = platform(osName, osArch, musl != null);
        String libc = musl != null ? ", libc=musl: " + musl
                : platform.startsWith("linux-") ? ", libc=glibc (musl not detected)" : "";
        String resource = resource(platform);
        URL url = NativeLibrary.class.getClassLoader().getResource(resource);
        if (url != null) return extractAndLoad(url, resource);
        looked.add("the dbtoken jar (no " + resource + ")");
        List<String> held = new ArrayList<>();
        for (String p : KNOWN_PLATFORMS) {
            if (NativeLibrary.class.getClassLoader().getResource(resource(p)) != null) held.add(p);
        }
        throw error("dbtoken: no native library for this platform: " + platform + " (os.name=" + osName
                + ", os.arch=" + osArch + libc + "). Looked in: " + String.join("; ", looked)
                + ". The jar holds natives for: " + (held.isEmpty() ? "none" : String.join(", ", held))
                + ". Build libdbtoken_jni for this platform (bindings/java/build-native.sh) and set -D"
                + PROPERTY + " to its path.", null);
    }

    private static String loadFile(Path file, String from) throws DbTokenException {
        Path abs = file.toAbsolutePath();
        if (!Files.isRegularFile(abs)) {
            throw error("dbtoken: " + from + " names " + abs + ", which is not a file", null);
        }
        try {
            System.load(abs.toString());
        } catch (UnsatisfiedLinkError e) {
            throw error("dbtoken: could not load " + abs + " (from " + from + "): " + e.getMessage(), e);
        }
        return from + ": " + abs;
    }

    private static String extractAndLoad(URL url, String resource) throws DbTokenException {
        Path dir = null;
        Path file = null;
        try {
            dir = Files.createTempDirectory("dbtoken-jni-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            file = dir.resolve(resource.substring(resource.lastIndexOf('/') + 1));
            try (InputStream in = url.openStream()) {
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            }
            System.load(file.toString());
            return "jar: " + resource;
        } catch (IOException | UnsupportedOperationException e) {
            throw error("dbtoken: could not copy " + resource + " from the jar into a private directory under "
                    + "java.io.tmpdir=" + System.getProperty("java.io.tmpdir") + ": " + e, e);
        } catch (UnsatisfiedLinkError e) {
            throw error("dbtoken: could not load " + resource + " copied from the jar to " + file + ": "
                    + e.getMessage() + " (a noexec java.io.tmpdir? set -Djava.io.tmpdir or -D" + PROPERTY + ")", e);
        } finally {
            // Linux keeps a loaded library mapped after its file is gone: nothing is left behind.
            // Where removal fails, the JVM tries again on exit.
            deleteOrDeferred(file);
            deleteOrDeferred(dir);
        }
    }

    private static void deleteOrDeferred(Path p) {
        if (p == null) return;
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            p.toFile().deleteOnExit();
        }
    }

    private static DbTokenException error(String message, Throwable cause) {
        DbTokenException e = new DbTokenException(Status.CONFIG.code(), message, 0, null, null);
        if (cause != null) e.initCause(cause);
        return e;
    }
}
