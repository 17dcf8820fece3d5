"""databricks-sdk adapter: dbtoken as the SDK's credentials strategy.

    from databricks.sdk import WorkspaceClient
    import dbtoken.sdk
    w = WorkspaceClient(host=..., credentials_strategy=dbtoken.sdk.credentials_strategy())

Every request asks ``client.token()`` for its ``Authorization`` header, so tokens are refreshed
through dbtoken's cache (from Python memory while fresh). Works for ``WorkspaceClient`` and
``AccountClient``; tested with databricks-sdk 0.67.0 and the newest release.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Dict, Optional

try:
    from databricks.sdk import oauth
    from databricks.sdk.credentials_provider import OAuthCredentialsProvider, OauthCredentialsStrategy
except ImportError as e:  # pragma: no cover - exercised only without the SDK
    raise ImportError("dbtoken.sdk needs databricks-sdk (pip install databricks-sdk)") from e

from ._client import Client

if TYPE_CHECKING:
    from databricks.sdk.config import Config

AUTH_TYPE = "dbtoken"


class _Strategy(OauthCredentialsStrategy):
    """The strategy object; ``auth_type()`` is ``"dbtoken"``."""

    def __init__(self, client: Optional[Client]) -> None:
        super().__init__(AUTH_TYPE, self._provider)
        self._client = client
        self._lock = threading.Lock()

    def _client_for(self, cfg: "Config") -> Client:
        with self._lock:
            if self._client is None:
                # The SDK's host (and account id) win, so the token is for the host it calls;
                # everything else comes from the environment and config file like dbtoken's CLI.
                self._client = Client(host=cfg.host or None, account_id=getattr(cfg, "account_id", None) or None)
            return self._client

    def _provider(self, cfg: "Config") -> OAuthCredentialsProvider:
        client = self._client_for(cfg)

        def headers() -> Dict[str, str]:
            return {"Authorization": client.token().authorization}

        def token() -> oauth.Token:
            t = client.token()
            return oauth.Token(access_token=t.access_token, token_type=t.token_type, expiry=t.expires_on)

        return OAuthCredentialsProvider(headers, token)


def credentials_strategy(client: Optional[Client] = None) -> OauthCredentialsStrategy:
    """A credentials strategy for ``WorkspaceClient``/``AccountClient``.

    ``client=None`` creates a :class:`dbtoken.Client` on first use, from the environment like
    ``dbtoken.Client()``, with the SDK config's ``host`` and ``account_id`` set on it. Pass your own
    client to share one cache between several SDK clients (closing it is then yours to do).
    """
    return _Strategy(client)
