"""Against the loopback dbtoken-mock: exchange, Python-side cache, errors, threads and the GIL."""

import threading
import time
from datetime import datetime, timezone

import pytest

import dbtoken

pytestmark = pytest.mark.mock
TOKEN_PATH = "/oidc/v1/token"


def test_token_from_the_environment(mock):
    with dbtoken.Client() as c:
        t = c.token()
        assert t.token_type == "Bearer"
        assert t.access_token
        assert t.expires_on.tzinfo is timezone.utc
        left = (t.expires_on - datetime.now(timezone.utc)).total_seconds()
        assert 3500 < left <= 3600
        assert c.stats() == dbtoken.Stats(refreshes=1, failures=0)
    assert mock.requests(TOKEN_PATH) == 1


def test_cached_token_comes_from_python_memory(mock):
    with dbtoken.Client() as c:
        first = c.token()
        for _ in range(1000):
            assert c.token() is first
        assert c.stats().refreshes == 1
    assert mock.requests(TOKEN_PATH) == 1


def test_python_cache_ends_at_the_library_refresh_time(mock):
    # 2 s tokens are short-lived: the library refreshes them at half-life (1 s). Past that the
    # call must reach the library, which exchanges again; a Python cache that ignored
    # refresh_at would keep the first token.
    mock.config(token_ttl_secs=2)
    with dbtoken.Client() as c:
        a = c.token()
        time.sleep(1.5)
        b = c.token()
        assert c.stats().refreshes == 2
        assert a.access_token != b.access_token
    assert mock.requests(TOKEN_PATH) == 2


def test_rejection_carries_the_server_error(mock):
    jwt = open(mock_jwt_path()).read().strip()
    with dbtoken.Client(client_id="not-the-sp") as c:
        with pytest.raises(dbtoken.RejectedError) as e:
            c.token()
        assert c.stats() == dbtoken.Stats(refreshes=1, failures=1)
    err = e.value
    assert err.status == dbtoken.Status.REJECTED == 5
    assert err.http_status == 400
    assert err.server_error == "invalid_client"
    assert "unknown client_id 'not-the-sp'" in err.error_description
    assert "invalid_client" in str(err)
    assert jwt not in str(err) and jwt not in repr(err)


def test_service_principal_client_id(mock):
    with dbtoken.Client(client_id=mock.sp_client_id) as c:
        assert c.token().access_token


def test_server_errors_after_retries_are_transient(mock):
    mock.fault(path=TOKEN_PATH, status=503, times=1000)
    with dbtoken.Client(retry_timeout_seconds=1) as c:
        with pytest.raises(dbtoken.TransientError) as e:
            c.token()
    assert e.value.status == dbtoken.Status.TRANSIENT
    assert "503" in str(e.value)


def test_64_threads_cause_one_exchange(mock):
    mock.fault(path=TOKEN_PATH, delay_ms=500, times=1)
    n = 64
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []
    with dbtoken.Client() as c:

        def worker(i):
            try:
                barrier.wait()
                results[i] = c.token().access_token
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        assert len(set(results)) == 1 and results[0]
        assert c.stats() == dbtoken.Stats(refreshes=1, failures=0)
    assert mock.requests(TOKEN_PATH) == 1


def test_blocking_call_releases_the_gil(mock):
    # While one thread waits 800 ms in the exchange, a pure-Python thread keeps ticking.
    # If the foreign call held the GIL, the ticker would stall for the whole exchange.
    mock.fault(path=TOKEN_PATH, delay_ms=800, times=1)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.005)

    with dbtoken.Client() as c:
        t = threading.Thread(target=ticker)
        t.start()
        time.sleep(0.05)
        start = time.monotonic()
        c.token()
        took = time.monotonic() - start
        stop.set()
        t.join()
    during = [x for x in ticks if start <= x <= start + took]
    gaps = [b - a for a, b in zip(during, during[1:])]
    assert took >= 0.75
    assert len(during) > 50, f"the ticker ran {len(during)} times in {took:.2f} s"
    assert max(gaps) < 0.2


def test_close_waits_for_a_call_in_progress(mock):
    mock.fault(path=TOKEN_PATH, delay_ms=500, times=1)
    c = dbtoken.Client()
    got = []
    t = threading.Thread(target=lambda: got.append(c.token()))
    t.start()
    time.sleep(0.2)
    c.close()  # returns at once; the native client is freed when the call ends
    assert c.closed
    t.join(10)
    assert got and got[0].access_token
    with pytest.raises(ValueError, match="closed"):
        c.token()


def mock_jwt_path():
    import os

    return os.environ["DATABRICKS_OIDC_TOKEN_FILEPATH"]


def _token_in_forked_child(c, timeout=5.0):
    """Fork; the child calls c.token() and reports over a pipe. Returns (seconds, report)."""
    import os
    import select

    r, w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: only os._exit leaves it
        try:
            t = c.token()
            msg = f"ok {t.token_type} {len(t.access_token)} {c.stats().refreshes}"
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            msg = f"error {type(e).__name__}: {e}"
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], timeout)
        if not ready:
            os.kill(pid, 9)
            return time.monotonic() - start, "timeout"
        return time.monotonic() - start, os.read(r, 4096).decode()
    finally:
        os.close(r)
        os.waitpid(pid, 0)


def test_forked_child_gets_a_token_while_the_parent_is_mid_exchange(mock):
    # The parent's first exchange takes 8 s; while a parent thread is inside it, holding the
    # native client's refresh, the process forks. The child must not inherit that state: it
    # gets its own token well within 5 s.
    mock.fault(path=TOKEN_PATH, delay_ms=8000, times=1)
    with dbtoken.Client() as c:
        got = []
        t = threading.Thread(target=lambda: got.append(c.token()))
        t.start()
        deadline = time.monotonic() + 5
        while mock.requests(TOKEN_PATH) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mock.requests(TOKEN_PATH) == 1, "the parent's exchange did not start"
        took, report = _token_in_forked_child(c)
        assert report.startswith("ok Bearer "), report
        assert report.endswith(" 1"), f"the child's client is not fresh: {report}"
        assert took < 5, took
        t.join(15)
        assert got and got[0].access_token


def test_forked_child_does_not_share_the_cached_token(mock):
    with dbtoken.Client() as c:
        c.token()
        took, report = _token_in_forked_child(c)
        assert report.startswith("ok Bearer "), report
        assert report.endswith(" 1"), report  # the child made its own exchange
        assert c.stats().refreshes == 1  # the parent's client is untouched
    assert mock.requests(TOKEN_PATH) == 2


def _worker_token(_):
    t = _shared_client.token()
    return t.token_type, len(t.access_token), _shared_client.stats().refreshes


_shared_client = None


def test_multiprocessing_fork_start_method(mock):
    import multiprocessing

    global _shared_client
    with dbtoken.Client() as c:
        _shared_client = c
        c.token()
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as pool:
            results = pool.map(_worker_token, range(4), chunksize=1)
        _shared_client = None
    assert len(results) == 4
    for token_type, n, refreshes in results:
        assert token_type == "Bearer" and n > 0
        assert refreshes == 1  # each worker's own client, one exchange per worker
    assert 2 <= mock.requests(TOKEN_PATH) <= 3  # the parent, and each of the 2 workers
