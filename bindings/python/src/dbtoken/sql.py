"""databricks-sql-connector adapter: dbtoken as ``sql.connect``'s ``credentials_provider``.

    from databricks import sql
    import dbtoken.sql
    conn = sql.connect(server_hostname=..., http_path=...,
                       credentials_provider=dbtoken.sql.credentials_provider())

The connector asks the provider for its ``Authorization`` header. Note that connector 4.x keeps
the token it got until its own idea of expiry (the JWT's ``exp`` less a minute, else an hour)
and, for a JWT whose issuer is not the workspace host (an Entra token), tries its own token
exchange first; Databricks tokens (the federation and M2M flows) are used as they are.
Needs nothing from the connector at import time.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Optional

from ._client import Client

AUTH_TYPE = "dbtoken"


class CredentialsProvider:
    """What ``sql.connect(credentials_provider=...)`` expects: ``auth_type()``, and a call that
    returns a header factory."""

    def __init__(self, client: Optional[Client]) -> None:
        self._client = client
        self._lock = threading.Lock()

    def auth_type(self) -> str:
        return AUTH_TYPE

    def __call__(self, *args: Any, **kwargs: Any) -> Callable[[], Dict[str, str]]:
        with self._lock:
            if self._client is None:
                self._client = Client()
            client = self._client

        def headers() -> Dict[str, str]:
            return {"Authorization": client.token().authorization}

        return headers


def credentials_provider(client: Optional[Client] = None) -> CredentialsProvider:
    """A ``credentials_provider`` for ``databricks.sql.connect``. ``client=None`` creates a
    :class:`dbtoken.Client` from the environment on first use (set ``DATABRICKS_HOST`` and the
    rest as for ``dbtoken token``)."""
    return CredentialsProvider(client)
