"""databricks-sdk-py against `dbtoken serve`, configured only from the environment
(DATABRICKS_AUTH_TYPE=metadata-service, DATABRICKS_HOST, DATABRICKS_METADATA_SERVICE_URL,
REQUESTS_CA_BUNDLE). Run by tests/sdk/run.sh. Never prints the token."""
import os
import sys


def fail(msg):
    print(f"python sdk: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    if os.environ.get("DATABRICKS_AUTH_TYPE") != "metadata-service":
        fail("DATABRICKS_AUTH_TYPE is not metadata-service")
    for var in ("DATABRICKS_OIDC_TOKEN_FILEPATH", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET",
                "DATABRICKS_TOKEN"):
        if var in os.environ:
            fail(f"{var} is set; the SDK must authenticate through dbtoken serve alone")

    from databricks.sdk import WorkspaceClient
    from databricks.sdk.version import __version__

    if len(sys.argv) > 1 and __version__ != sys.argv[1]:
        fail(f"databricks-sdk {__version__} is installed, want {sys.argv[1]}")

    w = WorkspaceClient()
    if w.config.auth_type != "metadata-service":
        fail(f"auth type used is {w.config.auth_type!r}, want metadata-service")
    me = w.current_user.me()
    if me.user_name != "dbtoken-mock-sp":
        fail(f"userName is {me.user_name!r}, want dbtoken-mock-sp")
    print(f"python sdk: ok ({__version__}): current_user.me() = User(id={me.id!r}, user_name={me.user_name!r}, active={me.active!r})")


if __name__ == "__main__":
    main()
