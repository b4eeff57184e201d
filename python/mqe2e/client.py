"""mqe2e.Client: libmqe2e behind an interface shaped like paho-mqtt's.

Threads (the same model as paho-mqtt's loop_start()).  libmqe2e runs its
network, reconnect and key-fetch threads itself; there is no loop to call.
Callbacks (on_message, a subscription's callback, on_connect, on_disconnect,
on_error) run on the library's threads - the network thread, or the
key-fetch thread for a message that waited for its keys - one at a time,
the messages of one topic group in the order the broker sent them.  Every method may be called from any thread, and
publish(), subscribe(), disconnect() also from inside a callback (there they
hand the packet over without waiting for the broker's answer).  connect(),
receive(), close() and leaving a ``with`` block must not be called from a
callback: they raise RuntimeError there.  The library releases the GIL while
it waits, so other Python threads run during a blocking call.
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import logging
import os
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional

from . import _lib
from .errors import ConfigError, Error, ErrorCode, Timeout, Unavailable, error_for

__all__ = ["Client", "Message", "strerror"]

log = logging.getLogger("mqe2e")

_ERRBUF = 1024


def strerror(code: int) -> str:
    """The library's sentence for an error code (mqe2e_strerror())."""
    return _lib.load().mqe2e_strerror(int(code)).decode("utf-8", "replace")


def _str(b: Optional[bytes]) -> str:
    return b.decode("utf-8", "replace") if b else ""


def _ms(seconds: Optional[float]) -> int:
    """A timeout in seconds as the library's milliseconds (None: one day)."""
    if seconds is None:
        return 86_400_000
    if seconds < 0:
        raise ValueError(f"timeout {seconds!r}: must be >= 0 seconds")
    return min(int(seconds * 1000), 2**31 - 1)


def _cstr(s: str, what: str) -> bytes:
    """s as a C string: UTF-8, and no NUL that would cut it short."""
    if "\0" in s:
        raise ValueError(f"{what} {s!r} contains a NUL character")
    return s.encode("utf-8")


def _option_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, str)):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fsdecode(value)
    if isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray)):
        return ",".join(str(v) for v in value)
    raise ConfigError(ErrorCode.INVALID_ARG, strerror(ErrorCode.INVALID_ARG),
                      f"option {name}={value!r}: give a string, a number, a bool "
                      f"or a list of names")


@dataclasses.dataclass(frozen=True)
class Message:
    """A message that verified and decrypted end to end.

    topic, payload (plaintext bytes), qos and retain as in paho-mqtt, plus what
    mqe2e authenticated: sender (the publisher's client id), group (topic
    group), epoch (key epoch it was sealed under) and scheme (1..4).
    """

    topic: str
    payload: bytes
    qos: int
    retain: bool
    sender: str
    group: str
    epoch: int
    scheme: int


@dataclasses.dataclass
class _Sub:
    filter: str
    qos: int
    callback: Optional[Callable[..., None]]
    active: bool = True


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic filter matching (MQTT 5 section 4.7), as the library's
    core/topic.c: '+' one level, '#' the rest (and the parent: "a/#" matches
    "a"), wildcards in the first level do not match "$" topics.  Used only to
    deliver a message once when several subscriptions match it."""
    if topic_filter[:1] in ("+", "#") and topic.startswith("$"):
        return False
    f, t = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


class _Handle:
    """The C objects of one client and what must outlive them: the ctypes
    callback objects the library holds pointers to.  Freed by _release(),
    never on one of the library's own threads."""

    def __init__(self) -> None:
        self.client = ctypes.c_void_p()
        self.refs: list[Any] = []
        self.busy: set[int] = set()       # threads inside a callback


def _release(handle: _Handle) -> None:
    if not handle.client:
        return
    ptr = handle.client
    handle.client = ctypes.c_void_p()
    if threading.get_ident() in handle.busy:
        # The last reference went away inside a callback: the library cannot
        # be stopped from its own thread, so another thread does it.
        threading.Thread(target=_free_c, args=(ptr, handle.refs), daemon=True,
                         name="mqe2e-free").start()
    else:
        _free_c(ptr, handle.refs)


def _free_c(ptr: ctypes.c_void_p, refs: list[Any]) -> None:
    _lib.load().mqe2e_client_free(ptr)
    refs.clear()        # the library no longer calls back


class Client:
    """An mqe2e client: end-to-end secured MQTT publish/subscribe.

    Client(client_id, cert=..., key=..., cafile=..., kms=...) loads the
    certificate, key and CA at once (ConfigError / CertificateError naming the
    file) but touches no network before connect().

    client_id: the MQTT client id; None means the certificate's CN (the broker
    refuses any other).  cert, key: PEM files of this client's certificate and
    Ed25519 key; cafile: the mqe2e CA certificate; kms: the KMS base URL.
    broker: "tcp://host:port", or "ssl://host:port" for MQTT over TLS (or
    give host and port to connect(), which keep the scheme).
    userdata: passed to every callback, as in paho-mqtt.
    max_queued: messages kept for receive() when no callback takes them; more
    are dropped and reported to on_error (0: no limit).
    options: any other libmqe2e option by name (libmqe2e(3)): broker_id
    (the broker's certificate CN: the handshake is for that broker only), group (asserts
    the group of every published topic; the topic alone determines it),
    recipients (a list of subscriber ids for groups of scheme 1 or 2, instead
    of the broker's roster), keepalive, kms_timeout_ms, hold_max, hold_s,
    reconnect_min_ms, reconnect_max_ms, key_refresh_s, pair_refresh_s,
    rekey_jitter_ms, clean_start (bool), session_expiry_s, key_cache (bool: keep
    the keys in a sealed file for a restart during a KMS outage), key_cache_file.

    Callbacks, settable as attributes:
      on_message(client, userdata, message)  messages without a callback of
                                             their own subscription
      on_connect(client, userdata)           a verified session is up (also
                                             after each automatic reconnect)
      on_disconnect(client, userdata)        the link went down
      on_error(client, userdata, error)      an Error for something that was
                                             not the answer to a call: a message
                                             that did not verify, a failed
                                             reconnect or key refresh
    """

    def __init__(self, client_id: Optional[str] = None, *, cert: str, key: str,
                 cafile: str, kms: Optional[str] = None, broker: Optional[str] = None,
                 userdata: Any = None, max_queued: int = 10000, **options: Any) -> None:
        self._lib = _lib.load()
        self._options: dict[str, str] = {}
        for name, value in (("client_id", client_id), ("cert", cert), ("key", key),
                            ("cafile", cafile), ("kms", kms), ("broker", broker),
                            *options.items()):
            if value is not None:
                self._options[name] = _option_value(name, value)
        if max_queued < 0:
            raise ValueError(f"max_queued {max_queued}: must be >= 0")
        self.userdata = userdata
        self.on_message: Optional[Callable[[Client, Any, Message], None]] = None
        self.on_connect: Optional[Callable[[Client, Any], None]] = None
        self.on_disconnect: Optional[Callable[[Client, Any], None]] = None
        self.on_error: Optional[Callable[[Client, Any, Error], None]] = None
        self._max_queued = max_queued
        self._cv = threading.Condition()
        self._queue: collections.deque[Message] = collections.deque()
        self._open = True            # until disconnect() / close()
        self._ever_connected = False
        self._subs: list[_Sub] = []     # C callback arg i+1 is _subs[i]
        self._in_callback = threading.local()
        self._handle = _Handle()
        self._finalizer = weakref.finalize(self, _release, self._handle)
        self._build()

    # ---- life cycle ---------------------------------------------------------

    def _build(self) -> None:
        """(Re)make the C client from the options; registered subscriptions are
        registered again (only before the first connect)."""
        lib = self._lib
        self._finalizer()
        cfg = ctypes.c_void_p()
        if lib.mqe2e_config_new(ctypes.byref(cfg)) != 0:
            raise MemoryError("mqe2e_config_new")
        try:
            for name, value in self._options.items():
                r = lib.mqe2e_config_set(cfg, _cstr(name, "option name"),
                                         _cstr(value, f"option {name}"))
                if r != 0:
                    what = ("unknown option" if r == ErrorCode.NOT_FOUND else
                            "bad value for option")
                    raise error_for(r, strerror(r), f"{what} {name}={value!r} "
                                    "(the options are listed in libmqe2e(3))")
            buf = ctypes.create_string_buffer(_ERRBUF)
            out = ctypes.c_void_p()
            r = lib.mqe2e_client_new(cfg, ctypes.byref(out), buf, _ERRBUF)
            if r != 0:
                raise error_for(r, strerror(r), _str(buf.value))
        finally:
            lib.mqe2e_config_free(cfg)

        me = weakref.ref(self)
        handle = self._handle = _Handle()
        handle.client = out
        self._finalizer = weakref.finalize(self, _release, handle)
        on_msg = _lib.MESSAGE_CB(
            lambda arg, m: _trampoline(me, handle, "a message callback", _on_message, arg, m))
        on_err = _lib.ERROR_CB(
            lambda arg, e: _trampoline(me, handle, "on_error", _on_error, e))
        on_state = _lib.STATE_CB(
            lambda arg, up: _trampoline(me, handle, "on_connect/on_disconnect", _on_state, up))
        handle.refs[:] = [on_msg, on_err, on_state]
        lib.mqe2e_client_set_error_cb(out, on_err, None)
        lib.mqe2e_client_set_state_cb(out, on_state, None)
        for i, sub in enumerate(self._subs):
            if sub.active:
                self._check(lib.mqe2e_subscribe(out, sub.filter.encode(), sub.qos, on_msg,
                                                ctypes.c_void_p(i + 1), 0))

    @property
    def _c(self) -> ctypes.c_void_p:
        if not self._handle.client:
            raise Error(ErrorCode.INVALID_ARG, strerror(ErrorCode.INVALID_ARG),
                        "this client was closed: make a new mqe2e.Client")
        return self._handle.client

    def _not_in_callback(self, what: str) -> None:
        if getattr(self._in_callback, "active", False):
            raise RuntimeError(f"{what} cannot be called from an mqe2e callback "
                               "(it waits for the thread that runs the callback)")

    def _check(self, r: int) -> None:
        """Raise the exception for r (with the library's detailed message)."""
        if r == 0:
            return
        buf = ctypes.create_string_buffer(_ERRBUF)
        self._lib.mqe2e_client_errmsg(self._c, buf, _ERRBUF)
        raise error_for(r, strerror(r), _str(buf.value))

    @property
    def client_id(self) -> str:
        """This client's id (the certificate's CN unless configured)."""
        return _str(self._lib.mqe2e_client_id(self._c))

    def connect(self, host: Optional[str] = None, port: Optional[int] = None,
                keepalive: Optional[int] = None, timeout: float = 10.0) -> None:
        """Fetch the keys from the KMS, connect to the broker and run the mqe2e
        handshake; wait up to timeout seconds.

        host/port/keepalive override the broker and keep-alive given to the
        constructor (only before the first connect).  After a first success
        the client reconnects by itself, with a fresh handshake each time,
        until disconnect() or close().  Raises Unavailable (KMS or broker
        unreachable), Revoked, CertificateError, Denied (the broker refused
        us), Timeout.
        """
        self._not_in_callback("connect()")
        changed = dict(self._options)
        if host is not None or port is not None:
            old = urllib.parse.urlsplit(self._options.get("broker", "tcp://localhost:1883"))
            host = host or old.hostname or "localhost"
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"          # an IPv6 address
            # the scheme stays: ssl:// and mqtts:// (MQTT over TLS, the
            # tls_* options) default to port 8883
            scheme = old.scheme or "tcp"
            default = 8883 if scheme in ("ssl", "mqtts") else 1883
            changed["broker"] = f"{scheme}://{host}:{port or old.port or default}"
        if keepalive is not None:
            changed["keepalive"] = str(int(keepalive))
        if changed != self._options:
            if self._ever_connected:
                raise ConfigError(ErrorCode.INVALID_ARG, strerror(ErrorCode.INVALID_ARG),
                                  "connect(): this client already connected to "
                                  f"{self._options.get('broker', 'the default broker')}; "
                                  "make a new mqe2e.Client for another broker")
            self._options = changed
            self._build()
        with self._cv:
            self._open = True
        self._check(self._lib.mqe2e_connect(self._c, _ms(timeout)))
        self._ever_connected = True

    def disconnect(self, timeout: float = 10.0) -> None:
        """Disconnect cleanly and stop reconnecting; iterators over the client
        end once the messages already received are read."""
        with self._cv:
            self._open = False
            self._cv.notify_all()
        if self._handle.client:
            self._lib.mqe2e_disconnect(self._handle.client, _ms(timeout))

    def close(self) -> None:
        """Disconnect, stop the library's threads, wipe every secret and free
        the client.  Idempotent."""
        self._not_in_callback("close()")
        with self._cv:
            self._open = False
            self._cv.notify_all()
        self._finalizer()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def is_connected(self) -> bool:
        """True while a verified session with the broker is up."""
        return bool(self._handle.client) and \
            self._lib.mqe2e_is_connected(self._handle.client) == 1

    def refresh_keys(self) -> None:
        """Fetch the keys from the KMS now."""
        self._check(self._lib.mqe2e_refresh_keys(self._c))

    # ---- messages -----------------------------------------------------------

    def publish(self, topic: str, payload: bytes | bytearray | memoryview | str | int | float | None = None,
                qos: int = 0, retain: bool = False, timeout: float = 10.0) -> None:
        """Seal payload under the topic group's scheme and publish it; wait up
        to timeout seconds for the broker's acknowledgement (QoS 1/2) or the
        hand-over to the network (QoS 0).  While the link is down the call
        waits for the reconnect.  str payloads are sent as UTF-8, numbers as
        their decimal text (as paho-mqtt does).  Raises Denied (no publish
        key, or the broker refused the message), Timeout, Unavailable.
        """
        if payload is None:
            data = b""
        elif isinstance(payload, str):
            data = payload.encode("utf-8")
        elif isinstance(payload, (int, float)) and not isinstance(payload, bool):
            data = str(payload).encode("ascii")
        elif isinstance(payload, (bytes, bytearray, memoryview)):
            data = bytes(payload)
        else:
            raise TypeError(f"payload must be bytes, str, int, float or None, "
                            f"not {type(payload).__name__}")
        self._check(self._lib.mqe2e_publish(self._c, _cstr(topic, "topic"), data, len(data),
                                            qos, 1 if retain else 0, _ms(timeout)))

    def subscribe(self, topic_filter: str, qos: int = 0,
                  callback: Optional[Callable[[Client, Any, Message], None]] = None,
                  timeout: float = 10.0) -> None:
        """Subscribe to an MQTT topic filter and wait up to timeout seconds for
        the SUBACK.  Messages go to callback(client, userdata, message) if
        given, else to on_message, else to receive() and iteration.  The
        library renews subscriptions after each reconnect.  Raises Denied if
        the broker refused.  Before the first connect() only a client with
        clean_start=False may subscribe (the subscription is made by the
        connect, so that messages kept for the session are delivered).
        """
        if not self._ever_connected and self._options.get("clean_start", "1") != "0":
            raise Error(ErrorCode.INVALID_ARG, strerror(ErrorCode.INVALID_ARG),
                        f"subscribe('{topic_filter}') before connect(): connect first "
                        "(or make the client with clean_start=False to resume a session)")
        flt = _cstr(topic_filter, "topic filter")
        sub = _Sub(topic_filter, qos, callback)
        with self._cv:
            self._subs.append(sub)      # before the SUBACK: retained messages come at once
            idx = len(self._subs)
        on_msg = self._handle.refs[0]
        try:
            self._check(self._lib.mqe2e_subscribe(self._c, flt, qos,
                                                  on_msg, ctypes.c_void_p(idx), _ms(timeout)))
        except Error:
            sub.active = False          # the library dropped it too
            raise

    def receive(self, timeout: Optional[float] = None) -> Message:
        """The next message that no callback took, waiting up to timeout
        seconds (None: until one comes).  Raises Timeout when none came, and
        Unavailable once the client is disconnected and nothing is left.
        """
        self._not_in_callback("receive()")
        with self._cv:
            if not self._cv.wait_for(lambda: self._queue or not self._open, timeout):
                raise Timeout(ErrorCode.TIMEOUT, strerror(ErrorCode.TIMEOUT),
                              f"no message within {timeout} s")
            if self._queue:
                return self._queue.popleft()
        raise Unavailable(ErrorCode.UNAVAILABLE, strerror(ErrorCode.UNAVAILABLE),
                          "the client is disconnected: no more messages")

    def messages(self, timeout: Optional[float] = None) -> Iterator[Message]:
        """Iterate over received messages (those no callback took) until the
        client is disconnected; timeout bounds the wait for each one (Timeout
        is raised when it runs out)."""
        while True:
            try:
                yield self.receive(timeout)
            except Unavailable:
                return

    def __iter__(self) -> Iterator[Message]:
        return self.messages()

    def __repr__(self) -> str:
        state = "connected" if self.is_connected() else "not connected"
        return f"<mqe2e.Client {self._options.get('client_id', '(certificate CN)')} {state}>"

    # ---- called by the trampolines on the library's thread -------------------

    def _dispatch(self, arg: Optional[int], msg: Message) -> None:
        """One call per subscription that matched (the library's way); made
        into paho-mqtt's: each matching subscription's own callback once,
        and on_message (or the queue) once if none of them has one."""
        this = self._subs[arg - 1] if arg else None
        if this is not None and this.callback is not None:
            this.callback(self, self.userdata, msg)
            return
        matching = [i + 1 for i, s in enumerate(self._subs)
                    if s.active and topic_matches(s.filter, msg.topic)]
        if arg in matching:
            if any(self._subs[i - 1].callback is not None for i in matching):
                return                  # a subscription's own callback took it
            if arg != min(matching):
                return                  # delivered at the call for the oldest one
        if self.on_message is not None:
            self.on_message(self, self.userdata, msg)
            return
        with self._cv:
            if self._max_queued and len(self._queue) >= self._max_queued:
                full = True
            else:
                full = False
                self._queue.append(msg)
                self._cv.notify()
        if full:
            self._error(Error(ErrorCode.TOO_LONG, strerror(ErrorCode.TOO_LONG),
                              f"receive queue full ({self._max_queued} messages): dropped "
                              f"the message on '{msg.topic}' from '{msg.sender}'; call "
                              "receive() more often, set on_message, or raise max_queued",
                              topic=msg.topic, sender=msg.sender, group=msg.group,
                              epoch=msg.epoch))

    def _error(self, err: Error) -> None:
        if self.on_error is not None:
            self.on_error(self, self.userdata, err)
        else:
            log.warning("mqe2e: %s", err)


def _trampoline(me: weakref.ref[Client], handle: _Handle, what: str,
                fn: Callable[..., None], *args: Any) -> None:
    """Run fn(client, *args) for a C callback: exceptions are logged (they
    cannot travel through C), and the client is marked as inside a callback.
    Callbacks nest (disconnect() inside on_message runs on_disconnect), so
    the marks are restored, not cleared.  The thread stays in handle.busy to
    the very end, so that a last reference dropped here frees the C client
    from another thread."""
    ident = threading.get_ident()
    outer = ident in handle.busy
    handle.busy.add(ident)
    try:
        client = me()
        if client is None:
            return
        was_active = getattr(client._in_callback, "active", False)
        client._in_callback.active = True
        try:
            fn(client, *args)
        except Exception:
            log.exception("mqe2e: exception in %s", what)
        finally:
            client._in_callback.active = was_active
            del client
    finally:
        if not outer:
            handle.busy.discard(ident)


def _on_message(client: Client, arg: Optional[int], m: Any) -> None:
    c = m.contents
    msg = Message(topic=_str(c.topic),
                  payload=ctypes.string_at(c.payload, c.payload_len) if c.payload_len else b"",
                  qos=c.qos, retain=bool(c.retained), sender=_str(c.sender),
                  group=_str(c.group), epoch=c.epoch, scheme=c.scheme)
    client._dispatch(arg, msg)


def _on_error(client: Client, e: Any) -> None:
    c = e.contents
    client._error(error_for(c.code, strerror(c.code), _str(c.text), topic=_str(c.topic),
                            sender=_str(c.sender), group=_str(c.group), epoch=c.epoch))


def _on_state(client: Client, up: int) -> None:
    cb = client.on_connect if up else client.on_disconnect
    if cb is not None:
        cb(client, client.userdata)
