#!/usr/bin/env python3
"""One cold token exchange with databricks-sdk-py's `file-oidc` auth (peer for `dbtoken token`).

Usage: sdk_py_token.py HOST JWT_FILE [CLIENT_ID]
Trust for the mock's CA comes from REQUESTS_CA_BUNDLE (set by bench/run.sh).
Prints the access token on stdout, like `dbtoken token`.
"""
import sys

from databricks.sdk.core import Config


def main() -> int:
    host, jwt_file = sys.argv[1], sys.argv[2]
    client_id = sys.argv[3] if len(sys.argv) > 3 else None
    cfg = Config(
        host=host,
        auth_type="file-oidc",
        oidc_token_filepath=jwt_file,
        client_id=client_id,
    )
    # Config() resolves host metadata and builds the credentials provider;
    # oauth_token() forces the RFC 8693 exchange (POST /oidc/v1/token).
    print(cfg.oauth_token().access_token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
