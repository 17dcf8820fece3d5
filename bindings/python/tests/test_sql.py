"""dbtoken.sql with the real databricks-sql-connector: its first request carries the dbtoken
bearer. The server is a loopback TLS server of this test (a throwaway self-signed certificate
from openssl) that records the request and refuses it; the token comes from the mock."""

import os
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from databricks import sql

import dbtoken
import dbtoken.sql

pytestmark = [pytest.mark.mock, pytest.mark.sdk]


@pytest.fixture
def recording_server(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            seen.append((self.path, self.headers.get("Authorization")))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1], str(cert), seen
    server.shutdown()


def test_first_request_carries_the_dbtoken_bearer(mock, recording_server):
    port, cert, seen = recording_server
    with dbtoken.Client() as c:
        with pytest.raises(Exception):
            sql.connect(
                server_hostname="127.0.0.1",
                port=port,
                http_path="/sql/1.0/warehouses/dbtoken-test",
                credentials_provider=dbtoken.sql.credentials_provider(c),
                _tls_trusted_ca_file=cert,
                _retry_stop_after_attempts_count=1,
            )
        assert seen, "the connector sent no request"
        path, authorization = seen[0]
        assert path == "/sql/1.0/warehouses/dbtoken-test"
        assert authorization == c.token().authorization
        assert c.stats().refreshes == 1
