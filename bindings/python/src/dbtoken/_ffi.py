"""ctypes declarations of include/dbtoken.h and the loading of libdbtoken.so.

The library is looked up, in order: the path in ``DBTOKEN_LIBRARY`` (an explicit path wins),
then ``libdbtoken.so`` inside this package (what the wheel ships). Nothing else is searched, so
the library used is always the one named or the one that came with the package.

ctypes.CDLL (not PyDLL) releases the GIL for the duration of every foreign call, so a thread
blocked in a token request does not stop other Python threads.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import POINTER, Structure, c_char, c_char_p, c_int, c_int64, c_size_t, c_uint16, c_uint64, c_void_p

LIBRARY_ENV = "DBTOKEN_LIBRARY"
_BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libdbtoken.so")


class TokenInfo(Structure):
    """dbtoken_token_info."""

    _fields_ = [
        ("expires_on", c_int64),
        ("token_type", c_char * 32),
        ("refresh_at", c_int64),
    ]


class Stats(Structure):
    """dbtoken_stats."""

    _fields_ = [("refreshes", c_uint64), ("failures", c_uint64)]


def _candidates() -> list[tuple[str, str]]:
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        return [(explicit, f"{LIBRARY_ENV}={explicit}")]
    return [(_BUNDLED, f"{_BUNDLED} (bundled with the package)")]


def _load() -> ctypes.CDLL:
    if not sys.platform.startswith("linux"):
        raise ImportError(
            f"dbtoken: this build carries libdbtoken.so for Linux only; this is {sys.platform}. "
            f"Build the library (cargo build --release --lib) and set {LIBRARY_ENV} to its path."
        )
    path, described = _candidates()[0]
    if not os.path.exists(path):
        raise ImportError(
            f"dbtoken: the native library was not found at {described}. Install the wheel for "
            f"this platform (pip install dbtoken) or set {LIBRARY_ENV} to a libdbtoken.so."
        )
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"dbtoken: cannot load {described}: {e}") from e
    _declare(lib)
    return lib


def _declare(lib: ctypes.CDLL) -> None:
    out_ptr = POINTER(c_void_p)
    sigs: dict[str, tuple[object, list[object]]] = {
        "dbtoken_version": (c_char_p, []),
        "dbtoken_status_name": (c_char_p, [c_int]),
        "dbtoken_config_new": (c_int, [out_ptr]),
        "dbtoken_config_set": (c_int, [c_void_p, c_char_p, c_char_p, out_ptr]),
        "dbtoken_config_free": (None, [c_void_p]),
        "dbtoken_client_new": (c_int, [c_void_p, out_ptr, out_ptr]),
        "dbtoken_client_free": (None, [c_void_p]),
        "dbtoken_client_token": (
            c_int,
            [c_void_p, c_char_p, c_size_t, POINTER(c_size_t), POINTER(TokenInfo), out_ptr],
        ),
        "dbtoken_client_stats": (c_int, [c_void_p, POINTER(Stats)]),
        "dbtoken_error_status": (c_int, [c_void_p]),
        "dbtoken_error_message": (c_char_p, [c_void_p]),
        "dbtoken_error_server_error": (c_char_p, [c_void_p]),
        "dbtoken_error_server_description": (c_char_p, [c_void_p]),
        "dbtoken_error_http_status": (c_uint16, [c_void_p]),
        "dbtoken_error_free": (None, [c_void_p]),
    }
    for name, (restype, argtypes) in sigs.items():
        try:
            fn = getattr(lib, name)
        except AttributeError as e:
            raise ImportError(f"dbtoken: {lib._name} has no {name}; it is not a matching libdbtoken") from e
        fn.restype = restype
        fn.argtypes = argtypes


lib = _load()
