"""Shared helpers. Mock-backed tests use the loopback dbtoken-mock that tests/dist/python.sh
starts (tests/mock-env.sh exports DBTOKEN_MOCK_URL, DBTOKEN_MOCK_CA, DATABRICKS_HOST, ...);
without it they fail, never skip: run only the unit tests with `pytest -m "not mock"`."""

import json
import os
import ssl
import urllib.request

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "mock: needs the loopback dbtoken-mock (tests/dist/python.sh starts it)")
    config.addinivalue_line("markers", "sdk: needs databricks-sdk installed")


class Mock:
    def __init__(self) -> None:
        self.url = os.environ["DBTOKEN_MOCK_URL"]
        self.ctx = ssl.create_default_context(cafile=os.environ["DBTOKEN_MOCK_CA"])
        self.sp_client_id = os.environ["DBTOKEN_MOCK_SP_CLIENT_ID"]

    def _call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            return json.loads(r.read())

    def fault(self, **fault) -> None:
        self._call("POST", "/_mock/fault", fault)

    def config(self, **config) -> None:
        self._call("POST", "/_mock/config", config)

    def requests(self, path: str) -> int:
        return self._call("GET", "/_mock/stats")["requests"].get(path, 0)


@pytest.fixture
def mock():
    if not os.environ.get("DBTOKEN_MOCK_URL"):
        pytest.fail("DBTOKEN_MOCK_URL is not set: run tests/dist/python.sh, or pytest -m 'not mock'")
    m = Mock()
    m._call("POST", "/_mock/reset")
    yield m
    m._call("POST", "/_mock/reset")
