"""dbtoken: a Databricks OAuth token from a federated identity (Kubernetes, AKS workload
identity, CI OIDC), through libdbtoken's C ABI.

    import dbtoken
    with dbtoken.Client() as client:          # configured like the dbtoken command
        token = client.token()                # cached; refreshed ahead of expiry
        headers = {"Authorization": token.authorization}

For databricks-sdk: ``WorkspaceClient(host=..., credentials_strategy=dbtoken.sdk.credentials_strategy())``.
"""

from ._client import Client, Stats, Token, version
from ._errors import (
    ConfigError,
    DbtokenError,
    FederatedTokenError,
    InternalError,
    InvalidArgumentError,
    LocalIOError,
    RejectedError,
    Status,
    TransientError,
)

__version__ = "0.1.0"

__all__ = [
    "Client",
    "ConfigError",
    "DbtokenError",
    "FederatedTokenError",
    "InternalError",
    "InvalidArgumentError",
    "LocalIOError",
    "RejectedError",
    "Stats",
    "Status",
    "Token",
    "TransientError",
    "version",
]
