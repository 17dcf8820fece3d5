"""dbtoken.sdk with the real databricks-sdk against the mock (run once per SDK version, each in
its own venv, by tests/dist/python.sh)."""

import os
import time

import pytest

from databricks.sdk import AccountClient, WorkspaceClient

import dbtoken
import dbtoken.sdk

pytestmark = [pytest.mark.mock, pytest.mark.sdk]

@pytest.fixture(autouse=True)
def _requests_trusts_the_mock():
    # requests ignores SSL_CERT_FILE; without this the SDK retries TLS failures for minutes.
    if not os.environ.get("REQUESTS_CA_BUNDLE"):
        pytest.fail("REQUESTS_CA_BUNDLE must name the mock's CA (tests/dist/python.sh sets it)")


ME = "/api/2.0/preview/scim/v2/Me"
TOKEN_PATH = "/oidc/v1/token"


def test_field_report_code_host_given_to_the_sdk_only(mock, monkeypatch):
    # The report's shape: the host goes to WorkspaceClient, the federation settings come from
    # the environment (DATABRICKS_OIDC_TOKEN_FILEPATH, as the pod has them).
    monkeypatch.delenv("DATABRICKS_HOST")
    w = WorkspaceClient(host=mock.url, credentials_strategy=dbtoken.sdk.credentials_strategy())
    assert w.config.auth_type == "dbtoken"
    assert w.current_user.me().user_name == "dbtoken-mock-sp"
    assert w.current_user.me().user_name == "dbtoken-mock-sp"
    assert mock.requests(ME) == 2
    assert mock.requests(TOKEN_PATH) == 1


def test_shared_client_and_oauth_token(mock):
    with dbtoken.Client() as c:
        w1 = WorkspaceClient(host=mock.url, credentials_strategy=dbtoken.sdk.credentials_strategy(c))
        w2 = WorkspaceClient(host=mock.url, credentials_strategy=dbtoken.sdk.credentials_strategy(c))
        w1.current_user.me()
        w2.current_user.me()
        assert c.stats().refreshes == 1
        t = w1.config.oauth_token()
        assert t.access_token == c.token().access_token
        assert t.expiry == c.token().expires_on and not t.expired


def test_every_request_asks_dbtoken_so_tokens_refresh(mock):
    # 2 s tokens, refreshed by the library at half-life: each SDK request past that must get a
    # new one through dbtoken (a static token= would be reused and eventually expire).
    mock.config(token_ttl_secs=2)
    with dbtoken.Client() as c:
        w = WorkspaceClient(host=mock.url, credentials_strategy=dbtoken.sdk.credentials_strategy(c))
        w.current_user.me()
        time.sleep(1.5)
        w.current_user.me()
        assert c.stats().refreshes == 2
    assert mock.requests(TOKEN_PATH) == 2


def test_client_id_in_the_environment_with_auth_type_dbtoken(mock, monkeypatch):
    # Newer SDKs count DATABRICKS_CLIENT_ID next to DATABRICKS_OIDC_TOKEN_FILEPATH as two auth
    # methods and refuse to start unless auth_type is set; "dbtoken" settles it in every version.
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", mock.sp_client_id)
    w = WorkspaceClient(host=mock.url, auth_type="dbtoken", credentials_strategy=dbtoken.sdk.credentials_strategy())
    assert w.current_user.me().user_name == "dbtoken-mock-sp"


def test_refusal_reaches_the_sdk_user_with_the_server_reason(mock, monkeypatch):
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", "not-the-sp")
    w = WorkspaceClient(host=mock.url, auth_type="dbtoken", credentials_strategy=dbtoken.sdk.credentials_strategy())
    with pytest.raises(Exception) as e:
        w.current_user.me()
    chain, err = [], e.value
    while err is not None:
        chain.append(err)
        err = err.__cause__ or err.__context__
    rejected = [x for x in chain if isinstance(x, dbtoken.RejectedError)]
    assert rejected, f"no RejectedError in {chain!r}"
    assert rejected[0].server_error == "invalid_client"


def test_account_client_gets_the_dbtoken_bearer(mock):
    with dbtoken.Client() as c:
        a = AccountClient(
            host=mock.url,
            account_id="7f4a1c2e-0000-4000-8000-00000000acc7",
            credentials_strategy=dbtoken.sdk.credentials_strategy(c),
        )
        assert a.config.auth_type == "dbtoken"
        assert a.config.authenticate() == {"Authorization": f"Bearer {c.token().access_token}"}
        assert c.stats().refreshes == 1
