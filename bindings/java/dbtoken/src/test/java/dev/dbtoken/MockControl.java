package dev.dbtoken;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/** The mock's control endpoints (/_mock/config, /_mock/stats) over HTTPS, trusting its CA. */
final class MockControl {
    private final String url = System.getenv("DATABRICKS_HOST");
    private final HttpClient http;

    MockControl() throws Exception {
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        try (InputStream in = Files.newInputStream(Path.of(System.getenv("SSL_CERT_FILE")))) {
            int i = 0;
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                trust.setCertificateEntry("mock-ca-" + i++, c);
            }
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, tmf.getTrustManagers(), null);
        http = HttpClient.newBuilder().sslContext(ssl).build();
    }

    void config(String json) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + "/_mock/config"))
                .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) throw new AssertionError("/_mock/config: " + r.statusCode() + " " + r.body());
    }

    /** Requests the mock has answered on PATH since it started (or was reset). */
    long requests(String path) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + "/_mock/stats")).build(),
                HttpResponse.BodyHandlers.ofString());
        Matcher m = Pattern.compile("\"" + Pattern.quote(path) + "\":(\\d+)").matcher(r.body());
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }
}
