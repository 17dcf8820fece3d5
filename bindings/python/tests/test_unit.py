"""The package without any server: loading, configuration errors, types, PATs, close()."""

import os
import subprocess
import sys

import pytest

import dbtoken
from dbtoken import _ffi

AUTH_VARS = [
    "DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_OIDC_TOKEN_FILEPATH", "DATABRICKS_OIDC_TOKEN_FILE", "DATABRICKS_OIDC_TOKEN",
    "DATABRICKS_AUTH_TYPE", "DATABRICKS_CONFIG_PROFILE", "DATABRICKS_ACCOUNT_ID",
    "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "ARM_CLIENT_ID", "ARM_TENANT_ID",
]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in AUTH_VARS:
        monkeypatch.delenv(var, raising=False)
    cfg = tmp_path / "databrickscfg"
    cfg.write_text("")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_library_version_is_the_package_version():
    assert dbtoken.version() == dbtoken.__version__


def test_status_enum_matches_the_library():
    for status in dbtoken.Status:
        assert _ffi.lib.dbtoken_status_name(status).decode() == f"DBTOKEN_STATUS_{status.name}"


def test_bundled_library_is_used_unless_overridden():
    if os.environ.get(_ffi.LIBRARY_ENV):
        pytest.fail(f"{_ffi.LIBRARY_ENV} is set: these tests must exercise the library the wheel carries")
    assert _ffi.lib._name == os.path.join(os.path.dirname(dbtoken.__file__), "libdbtoken.so")


def test_missing_library_is_a_clear_import_error(tmp_path):
    missing = tmp_path / "nowhere" / "libdbtoken.so"
    env = dict(os.environ, DBTOKEN_LIBRARY=str(missing))
    r = subprocess.run([sys.executable, "-c", "import dbtoken"], env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert f"DBTOKEN_LIBRARY={missing}" in r.stderr


def test_nothing_configured_is_a_config_error_naming_variables(clean_env):
    with pytest.raises(dbtoken.ConfigError) as e:
        dbtoken.Client()
    assert e.value.status == dbtoken.Status.CONFIG == 3
    assert "DATABRICKS_HOST" in str(e.value)
    assert e.value.server_error is None and e.value.http_status == 0


def test_no_auth_type_lists_each_type(clean_env):
    with pytest.raises(dbtoken.ConfigError) as e:
        dbtoken.Client(host="https://adb-1.2.azuredatabricks.net")
    for needed in ("DATABRICKS_TOKEN", "DATABRICKS_OIDC_TOKEN_FILEPATH", "AZURE_TENANT_ID"):
        assert needed in e.value.message


def test_unknown_key_lists_the_known_ones(clean_env):
    with pytest.raises(dbtoken.ConfigError) as e:
        dbtoken.Client(host="https://x.cloud.databricks.com", oidc_token_path="/x")
    assert "oidc_token_path" in str(e.value)
    assert "oidc_token_filepath" in str(e.value)
    assert isinstance(e.value, dbtoken.DbtokenError)


def test_values_must_be_text_numbers_or_paths(clean_env):
    with pytest.raises(TypeError, match="retry_timeout_seconds"):
        dbtoken.Client(host="https://x.cloud.databricks.com", retry_timeout_seconds=1.5)
    with pytest.raises(TypeError, match="token"):
        dbtoken.Client(host="https://x.cloud.databricks.com", token=True)


def test_explicit_values_beat_the_environment(clean_env, monkeypatch):
    monkeypatch.setenv("DATABRICKS_HOST", "https://env.cloud.databricks.com")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-from-env")
    with dbtoken.Client(token="dapi-explicit") as c:
        assert c.token().access_token == "dapi-explicit"


def test_pat_from_environment_needs_no_request_and_never_expires(clean_env, monkeypatch):
    monkeypatch.setenv("DATABRICKS_HOST", "https://x.cloud.databricks.com")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret-value")
    with dbtoken.Client() as c:
        t = c.token()
        assert (t.access_token, t.token_type, t.expires_on) == ("dapi-secret-value", "Bearer", None)
        assert t.authorization == "Bearer dapi-secret-value"
        assert c.token() is t  # answered from Python memory
        # The library counts taking the PAT as one refresh; x.cloud.databricks.com is not
        # reachable from here, so a request would have failed.
        assert c.stats() == dbtoken.Stats(refreshes=1, failures=0)
        assert "dapi-secret-value" not in repr(t)
        assert "REDACTED" in repr(t)
        assert "dapi-secret-value" not in repr(c)


def test_config_file_profile_and_path_values(clean_env):
    cfg = clean_env / "cfg"
    cfg.write_text("[work]\nhost = https://x.cloud.databricks.com\ntoken = dapi-profile\n")
    with dbtoken.Client(config_file=cfg, profile="work") as c:  # a PathLike is accepted
        assert c.token().access_token == "dapi-profile"


def test_bad_federated_token_is_refused_before_any_request(clean_env):
    jwt = clean_env / "token"
    jwt.write_text("not-a-jwt")
    # Port 9 on loopback: nothing listens, and nothing may be asked before the JWT is checked.
    with dbtoken.Client(host="https://127.0.0.1:9", oidc_token_filepath=jwt, retry_timeout_seconds=1) as c:
        with pytest.raises(dbtoken.FederatedTokenError) as e:
            c.token()
    assert e.value.status == dbtoken.Status.FEDERATED_TOKEN
    assert str(jwt) in e.value.message
    assert "not-a-jwt" not in e.value.message


def test_missing_federated_token_file(clean_env):
    with dbtoken.Client(host="https://127.0.0.1:9", oidc_token_filepath=clean_env / "absent") as c:
        with pytest.raises(dbtoken.FederatedTokenError, match="absent"):
            c.token()


def test_close_is_idempotent_and_final(clean_env):
    c = dbtoken.Client(host="https://x.cloud.databricks.com", token="dapi-x")
    assert c.token().access_token == "dapi-x"
    assert not c.closed
    c.close()
    c.close()
    assert c.closed
    with pytest.raises(ValueError, match="closed"):
        c.token()
    with pytest.raises(ValueError, match="closed"):
        c.stats()


def test_context_manager_closes(clean_env):
    with dbtoken.Client(host="https://x.cloud.databricks.com", token="dapi-x") as c:
        pass
    assert c.closed


def test_exception_hierarchy():
    assert issubclass(dbtoken.InvalidArgumentError, ValueError)
    for cls in (dbtoken.ConfigError, dbtoken.FederatedTokenError, dbtoken.RejectedError,
                dbtoken.TransientError, dbtoken.LocalIOError, dbtoken.InternalError):
        assert issubclass(cls, dbtoken.DbtokenError)


def test_sdk_adapter_without_the_sdk_says_what_to_install():
    import importlib.util

    r = subprocess.run([sys.executable, "-c", "import dbtoken.sdk"], capture_output=True, text=True)
    if importlib.util.find_spec("databricks") is None:
        assert r.returncode != 0 and "pip install databricks-sdk" in r.stderr
    else:
        assert r.returncode == 0, r.stderr
