"""Exceptions: one subclass per dbtoken_status, each carrying what the library reported."""

from __future__ import annotations

from enum import IntEnum
from typing import Dict, Optional, Type


class Status(IntEnum):
    """dbtoken_status. 3 to 6 equal the exit codes of the ``dbtoken`` command."""

    OK = 0
    INVALID_ARGUMENT = 1
    BUFFER_TOO_SMALL = 2
    CONFIG = 3
    FEDERATED_TOKEN = 4
    REJECTED = 5
    TRANSIENT = 6
    IO = 7
    PANIC = 8


class DbtokenError(Exception):
    """A failure reported by libdbtoken.

    ``status`` is the :class:`Status`; ``message`` says what went wrong and how to fix it (it
    never contains a token); when the server refused, ``server_error`` is its OAuth ``error``
    code, ``error_description`` its ``error_description`` and ``http_status`` the HTTP status
    (0 when the failure was not an HTTP answer).
    """

    status: Status

    def __init__(
        self,
        status: int,
        message: str,
        server_error: Optional[str] = None,
        error_description: Optional[str] = None,
        http_status: int = 0,
    ) -> None:
        super().__init__(message)
        try:
            self.status = Status(status)
        except ValueError:  # a status newer than this package: keep the number
            self.status = status  # type: ignore[assignment]
        self.message = message
        self.server_error = server_error
        self.error_description = error_description
        self.http_status = http_status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class InvalidArgumentError(DbtokenError, ValueError):
    """A required argument was missing or a string was not valid UTF-8."""


class ConfigError(DbtokenError):
    """Configuration missing, contradictory or invalid (including an unknown key)."""


class FederatedTokenError(DbtokenError):
    """The federated token (JWT) is unreadable, malformed, expired or not yet valid."""


class RejectedError(DbtokenError):
    """The server refused (400/401/403...); see ``server_error`` and ``error_description``."""


class TransientError(DbtokenError):
    """Network failure, timeout, 429/5xx after retries, or an unparseable response."""


class LocalIOError(DbtokenError):
    """A local I/O failure."""


class InternalError(DbtokenError):
    """A bug in dbtoken (a Rust panic caught at the C boundary). Please report it."""


_BY_STATUS: Dict[int, Type[DbtokenError]] = {
    Status.INVALID_ARGUMENT: InvalidArgumentError,
    Status.CONFIG: ConfigError,
    Status.FEDERATED_TOKEN: FederatedTokenError,
    Status.REJECTED: RejectedError,
    Status.TRANSIENT: TransientError,
    Status.IO: LocalIOError,
    Status.PANIC: InternalError,
}


def error_class(status: int) -> Type[DbtokenError]:
    return _BY_STATUS.get(status, DbtokenError)
