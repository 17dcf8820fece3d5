"""Client and Token over the C ABI (see include/dbtoken.h)."""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from ctypes import byref, c_size_t, c_void_p, create_string_buffer
from datetime import datetime, timezone
from typing import NamedTuple, Optional, Tuple, Union

from . import _ffi
from ._errors import DbtokenError, Status, error_class

lib = _ffi.lib

ConfigValue = Union[str, int, "os.PathLike[str]", None]

# The first buffer offered for a token; a longer token is fetched again with its exact length.
_FIRST_BUFFER = 4096


class Token:
    """An access token. ``expires_on`` is a timezone-aware ``datetime`` in UTC, or ``None`` when
    the token does not expire (a personal access token). ``repr()`` never shows the token."""

    __slots__ = ("access_token", "token_type", "expires_on", "_authorization")

    access_token: str
    token_type: str
    expires_on: Optional[datetime]

    def __init__(self, access_token: str, token_type: str, expires_on: Optional[datetime]) -> None:
        self.access_token = access_token
        self.token_type = token_type
        self.expires_on = expires_on
        self._authorization = f"{token_type} {access_token}"

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value, e.g. ``"Bearer eyJ..."`` (built once per token)."""
        return self._authorization

    def __repr__(self) -> str:
        return f"Token(access_token=[REDACTED], token_type={self.token_type!r}, expires_on={self.expires_on!r})"


class Stats(NamedTuple):
    """Refresh counters of a client: token requests started, and those that failed."""

    refreshes: int
    failures: int


def _error_from(status: int, err: c_void_p) -> "DbtokenError":
    """Turn a status and its dbtoken_error (which is freed here) into an exception."""
    if not err:
        name = lib.dbtoken_status_name(status)
        return error_class(status)(status, name.decode() if name else f"dbtoken status {status}")
    try:

        def text(fn) -> Optional[str]:  # type: ignore[no-untyped-def]
            raw = fn(err)
            return None if raw is None else raw.decode("utf-8", "replace")

        return error_class(status)(
            lib.dbtoken_error_status(err),
            text(lib.dbtoken_error_message) or "",
            text(lib.dbtoken_error_server_error),
            text(lib.dbtoken_error_server_description),
            int(lib.dbtoken_error_http_status(err)),
        )
    finally:
        lib.dbtoken_error_free(err)


def _encode(key: str, value: ConfigValue) -> Optional[bytes]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, os.PathLike)):
        raise TypeError(f"dbtoken.Client: {key} must be a str, int or path, not {type(value).__name__}")
    return os.fsencode(value) if isinstance(value, os.PathLike) else str(value).encode()


def _new_handle(config: "dict[str, ConfigValue]") -> int:
    err = c_void_p()
    out = c_void_p()
    cfg = c_void_p()
    if config:
        status = lib.dbtoken_config_new(byref(cfg))
        if status != Status.OK:
            raise _error_from(status, c_void_p())
    try:
        for key, value in config.items():
            status = lib.dbtoken_config_set(cfg, key.encode(), _encode(key, value), byref(err))
            if status != Status.OK:
                raise _error_from(status, err)
        status = lib.dbtoken_client_new(cfg, byref(out), byref(err))
        if status != Status.OK:
            raise _error_from(status, err)
    finally:
        lib.dbtoken_config_free(cfg)
    assert out.value
    return out.value


class Client:
    """A token provider with its own cache, shared by any number of threads.

    ``Client()`` resolves configuration from the environment and ``~/.databrickscfg`` exactly as
    the ``dbtoken`` command does. Keyword arguments are ``.databrickscfg`` keys (``host``,
    ``client_id``, ``oidc_token_filepath``, ``azure_client_id``, ``profile``, ...) and override
    the environment, which overrides the config file; ``None`` leaves a key to those sources.
    An unknown key raises :class:`ConfigError` listing the known ones. No request is made here.

    ``token()`` is answered from Python memory until the library's refresh-ahead time; after it,
    the library decides (one refresh for all callers, the old token served while it runs).
    Use ``close()`` or ``with dbtoken.Client() as c:`` to free the native client.
    """

    def __init__(self, **config: ConfigValue) -> None:
        self._config = dict(config)
        self._handle: Optional[int] = None
        self._open(_new_handle(self._config))
        self._lock = threading.Lock()
        self._users = 0
        self._closing = False
        # Set in a forked child: the parent's native client is left alone (its locks may be held
        # by threads the child does not have) and a new one is made on first use.
        self._forked = False
        # (token, refresh_at as a float of Unix seconds): replaced whole, read without a lock.
        self._cached: Optional[Tuple[Token, float]] = None
        _live.add(self)

    def _open(self, handle: int) -> None:
        self._handle = handle
        self._free = weakref.finalize(self, lib.dbtoken_client_free, c_void_p(handle))
        self._free.atexit = False  # at exit, a daemon thread may still be inside a call

    def _after_fork_in_child(self) -> None:
        # Runs in the child only, single-threaded. Fresh Python state: a new lock (the parent's
        # may have been held by one of its threads), no users, no cached token. The parent's
        # native client is never used or freed here (a refresh in flight in the parent would
        # never finish in the child): its memory copy is leaked, a new client is made lazily.
        self._lock = threading.Lock()
        self._users = 0
        self._cached = None
        if self._handle is not None and not self._closing:
            self._free.detach()
            self._handle = None
            self._forked = True

    def token(self) -> Token:
        """The current token: from memory while fresh, otherwise from the library (which may
        block on a token request, with the GIL released). Raises a :class:`DbtokenError`
        subclass on failure, carrying the server's ``error`` and ``error_description``."""
        cached = self._cached
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        return self._fetch()

    def _enter(self) -> int:
        with self._lock:
            if self._forked:
                self._open(_new_handle(self._config))
                self._forked = False
            if self._handle is None or self._closing:
                raise ValueError("dbtoken.Client is closed")
            self._users += 1
            return self._handle

    def _leave(self) -> None:
        with self._lock:
            self._users -= 1
            if self._closing and self._users == 0:
                self._handle = None
                self._free()

    def _fetch(self) -> Token:
        handle = self._enter()
        try:
            info = _ffi.TokenInfo()
            size = _FIRST_BUFFER
            while True:
                info.refresh_at = -1  # stays -1 with a library older than refresh_at
                buf = create_string_buffer(size)
                token_len = c_size_t()
                err = c_void_p()
                status = lib.dbtoken_client_token(handle, buf, size, byref(token_len), byref(info), byref(err))
                if status == Status.BUFFER_TOO_SMALL:
                    size = token_len.value + 1
                    continue
                if status != Status.OK:
                    raise _error_from(status, err)
                break
        finally:
            self._leave()
        expires_on = datetime.fromtimestamp(info.expires_on, timezone.utc) if info.expires_on else None
        token = Token(buf.raw[: token_len.value].decode(), info.token_type.decode(), expires_on)
        if info.refresh_at == 0:
            self._cached = (token, math.inf)  # never refreshed (a personal access token)
        elif info.refresh_at > 0:
            self._cached = (token, float(info.refresh_at))
        if self.closed:  # closed by another thread meanwhile: keep nothing
            self._cached = None
        return token

    def stats(self) -> Stats:
        """The refresh counters (dbtoken_client_stats)."""
        handle = self._enter()
        try:
            out = _ffi.Stats()
            status = lib.dbtoken_client_stats(handle, byref(out))
            if status != Status.OK:
                raise _error_from(status, c_void_p())
            return Stats(int(out.refreshes), int(out.failures))
        finally:
            self._leave()

    def close(self) -> None:
        """Free the native client; idempotent. A call in progress on another thread finishes
        first (the last one frees it); later calls raise ``ValueError``."""
        with self._lock:
            self._cached = None
            self._forked = False
            if self._handle is None or self._closing:
                return
            if self._users:
                self._closing = True
                return
            self._handle = None
            self._free()

    @property
    def closed(self) -> bool:
        return (self._handle is None and not self._forked) or self._closing

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<dbtoken.Client {'closed' if self.closed else 'open'}>"


# Every open Client, so a forked child can give each fresh state (os.fork(), multiprocessing's
# fork start method, gunicorn --preload, Celery prefork). The fast path of token() is untouched.
_live: "weakref.WeakSet[Client]" = weakref.WeakSet()


def _reset_clients_in_child() -> None:
    for client in list(_live):
        client._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_clients_in_child)


def version() -> str:
    """The version of the loaded libdbtoken, e.g. ``"0.1.0"``."""
    raw: bytes = lib.dbtoken_version()
    return raw.decode()
