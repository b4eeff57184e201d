"""ctypes declarations of libmqe2e's public API (client/mqe2e.h).

This module is the only place that knows the C signatures and the layouts of
struct mqe2e_message and struct mqe2e_error; the test suite compares both
with the header through the C compiler (tests/test_layout.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_int, c_size_t,
                    c_uint8, c_uint32, c_void_p)

__all__ = ["lib", "load", "Message", "ErrorInfo", "MESSAGE_CB", "ERROR_CB",
           "STATE_CB", "library_path"]


class Message(Structure):
    """struct mqe2e_message: valid only during the message callback."""

    _fields_ = [
        ("topic", c_char_p),
        ("payload", POINTER(c_uint8)),
        ("payload_len", c_size_t),
        ("sender", c_char_p),
        ("group", c_char_p),
        ("epoch", c_uint32),
        ("scheme", c_int),
        ("qos", c_int),
        ("retained", c_int),
    ]


class ErrorInfo(Structure):
    """struct mqe2e_error: valid only during the error callback."""

    _fields_ = [
        ("code", c_int),
        ("text", c_char_p),
        ("topic", c_char_p),
        ("sender", c_char_p),
        ("group", c_char_p),
        ("epoch", c_uint32),
    ]


MESSAGE_CB = CFUNCTYPE(None, c_void_p, POINTER(Message))
ERROR_CB = CFUNCTYPE(None, c_void_p, POINTER(ErrorInfo))
STATE_CB = CFUNCTYPE(None, c_void_p, c_int)

# name: (restype, argtypes)
_PROTOTYPES = {
    "mqe2e_strerror": (c_char_p, [c_int]),
    "mqe2e_config_new": (c_int, [POINTER(c_void_p)]),
    "mqe2e_config_free": (None, [c_void_p]),
    "mqe2e_config_set": (c_int, [c_void_p, c_char_p, c_char_p]),
    "mqe2e_client_new": (c_int, [c_void_p, POINTER(c_void_p), c_char_p, c_size_t]),
    "mqe2e_client_free": (None, [c_void_p]),
    "mqe2e_client_set_error_cb": (None, [c_void_p, ERROR_CB, c_void_p]),
    "mqe2e_client_set_state_cb": (None, [c_void_p, STATE_CB, c_void_p]),
    "mqe2e_client_errmsg": (c_char_p, [c_void_p, c_char_p, c_size_t]),
    "mqe2e_client_id": (c_char_p, [c_void_p]),
    "mqe2e_connect": (c_int, [c_void_p, c_int]),
    "mqe2e_disconnect": (c_int, [c_void_p, c_int]),
    "mqe2e_is_connected": (c_int, [c_void_p]),
    "mqe2e_subscribe": (c_int, [c_void_p, c_char_p, c_int, MESSAGE_CB, c_void_p, c_int]),
    "mqe2e_publish": (c_int, [c_void_p, c_char_p, c_void_p, c_size_t, c_int, c_int, c_int]),
    "mqe2e_refresh_keys": (c_int, [c_void_p]),
}

lib: ctypes.CDLL | None = None
library_path: str | None = None


def _candidates() -> list[str]:
    """Where to look for libmqe2e, in order: $MQE2E_LIBRARY (a path), the
    dynamic loader's search (LD_LIBRARY_PATH, ld.so.cache) for the installed
    soname, then ctypes.util.find_library."""
    env = os.environ.get("MQE2E_LIBRARY")
    if env:
        return [env]
    names = ["libmqe2e.so.0"]
    found = ctypes.util.find_library("mqe2e")
    if found and found not in names:
        names.append(found)
    return names


def load() -> ctypes.CDLL:
    """Load libmqe2e once and declare its functions; ImportError naming every
    place tried if it cannot be found."""
    global lib, library_path
    if lib is not None:
        return lib
    tried = []
    for name in _candidates():
        try:
            handle = ctypes.CDLL(name)
        except OSError as e:
            tried.append(f"{name} ({e})")
            continue
        for fn, (restype, argtypes) in _PROTOTYPES.items():
            try:
                f = getattr(handle, fn)
            except AttributeError:
                raise ImportError(
                    f"{name} has no {fn}(): it is not libmqe2e or older than this "
                    f"binding; point MQE2E_LIBRARY at the libmqe2e.so of this tree"
                ) from None
            f.restype = restype
            f.argtypes = argtypes
        lib, library_path = handle, name
        return lib
    raise ImportError(
        "cannot load libmqe2e: tried " + "; ".join(tried) +
        ". Install mqe2e (make install, then ldconfig) or set MQE2E_LIBRARY to "
        "the library's path, e.g. build/client/.libs/libmqe2e.so")
