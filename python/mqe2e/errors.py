"""Exceptions of the mqe2e binding.

Every failure of the library surfaces as an Error (or a subclass) carrying
the library's error code (``code``, an ErrorCode), its one-line meaning
(``reason``, from mqe2e_strerror()) and the library's detailed message
(``hint``: which file, topic, group or peer, and what to do).
"""

from __future__ import annotations

import enum

__all__ = ["ErrorCode", "Error", "ConfigError", "Unavailable", "Denied",
           "CertificateError", "Revoked", "Timeout", "error_for"]


class ErrorCode(enum.IntEnum):
    """enum mqe2e_err of core/mqe2e_err.h (checked against the header by the
    test suite)."""

    OK = 0
    NOMEM = -1
    INVALID_ARG = -2
    TRUNCATED = -3
    TRAILING = -4
    TOO_LONG = -5
    BAD_VERSION = -6
    BAD_TYPE = -7
    BAD_FORMAT = -8
    CRYPTO = -9
    BAD_SIGNATURE = -10
    BAD_TAG = -11
    UNKNOWN_CA = -12
    REVOKED = -13
    CERT_EXPIRED = -14
    BAD_CERT = -15
    ID_MISMATCH = -16
    CLOCK_SKEW = -17
    NONCE_REUSE = -18
    REPLAY = -19
    UNKNOWN_KEY = -20
    EXPIRED_KEY = -21
    DENIED = -22
    NOT_FOUND = -23
    IO = -24
    UNAVAILABLE = -25
    BAD_METHOD = -26
    INTERNAL = -27
    CONFLICT = -28
    TIMEOUT = -29
    QUOTA = -30
    NO_SPACE = -31


def _code(code: int) -> ErrorCode | int:
    try:
        return ErrorCode(code)
    except ValueError:          # a newer library: keep the number
        return code


class Error(Exception):
    """A libmqe2e call failed.

    Attributes: code (ErrorCode, or int for a code newer than this binding),
    reason (mqe2e_strerror(code)), hint (the library's detailed message, or
    "" if it gave none), and for errors reported through on_error the topic,
    sender, group and epoch concerned ("" / 0 when not known).
    """

    def __init__(self, code: int, reason: str, hint: str = "", *, topic: str = "",
                 sender: str = "", group: str = "", epoch: int = 0) -> None:
        self.code = _code(code)
        self.reason = reason
        self.hint = hint
        self.topic = topic
        self.sender = sender
        self.group = group
        self.epoch = epoch
        super().__init__(hint or reason)

    @property
    def name(self) -> str:
        """The code's name without the MQE2E_ERR_ prefix ("DENIED", ...)."""
        return self.code.name if isinstance(self.code, ErrorCode) else str(self.code)

    def __str__(self) -> str:
        return f"{self.hint or self.reason} [{self.name}]"


class ConfigError(Error, ValueError):
    """A bad option, value, file or argument (INVALID_ARG, NOT_FOUND, IO,
    BAD_CERT, ID_MISMATCH when building the client)."""


class Unavailable(Error, ConnectionError):
    """The KMS or the broker cannot be reached (UNAVAILABLE)."""


class Denied(Error, PermissionError):
    """Policy refused: no grant, the broker refused a message or a
    subscription (DENIED), or no key is held for the topic's group
    (UNKNOWN_KEY)."""


class CertificateError(Error):
    """A certificate did not verify (UNKNOWN_CA, CERT_EXPIRED, BAD_CERT,
    BAD_SIGNATURE, ID_MISMATCH)."""


class Revoked(CertificateError):
    """This client's (or a peer's) certificate is revoked (REVOKED)."""


class Timeout(Error, TimeoutError):
    """Gave up waiting (TIMEOUT)."""


_CLASSES: dict[int, type[Error]] = {
    ErrorCode.INVALID_ARG: ConfigError,
    ErrorCode.NOT_FOUND: ConfigError,
    ErrorCode.UNAVAILABLE: Unavailable,
    ErrorCode.DENIED: Denied,
    ErrorCode.UNKNOWN_KEY: Denied,
    ErrorCode.UNKNOWN_CA: CertificateError,
    ErrorCode.CERT_EXPIRED: CertificateError,
    ErrorCode.BAD_CERT: CertificateError,
    ErrorCode.BAD_SIGNATURE: CertificateError,
    ErrorCode.ID_MISMATCH: CertificateError,
    ErrorCode.REVOKED: Revoked,
    ErrorCode.TIMEOUT: Timeout,
}


def error_for(code: int, reason: str, hint: str = "", **where: object) -> Error:
    """The exception for a library error code."""
    return _CLASSES.get(code, Error)(code, reason, hint, **where)  # type: ignore[arg-type]
