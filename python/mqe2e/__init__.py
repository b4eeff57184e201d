"""mqe2e: end-to-end secured MQTT through an untrusted broker, for Python.

A binding over libmqe2e (the C client library of mqe2e) through ctypes: the
protocol, the cryptography and the KMS traffic all stay in libmqe2e.

    import mqe2e
    with mqe2e.Client("alice", cert="alice.crt", key="alice.key",
                      cafile="ca.crt", kms="http://127.0.0.1:7780") as c:
        c.connect("localhost", 1883)
        c.publish("demo/hello", "hello", qos=1)

The library is found through $MQE2E_LIBRARY (a path), else the dynamic
loader (libmqe2e.so.0 on LD_LIBRARY_PATH or in the ld.so cache).
"""

from .client import Client, Message, strerror
from .errors import (CertificateError, ConfigError, Denied, Error, ErrorCode, Revoked,
                     Timeout, Unavailable)

__version__ = "0.1.0"

__all__ = ["Client", "Message", "strerror", "Error", "ErrorCode", "ConfigError",
           "Unavailable", "Denied", "CertificateError", "Revoked", "Timeout"]
