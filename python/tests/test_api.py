"""The binding's own behaviour: life cycle, misuse, thread rules, callbacks
that raise, the receive queue bound."""

from __future__ import annotations

import gc
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import mqe2e
from conftest import wait_until


def test_closed_client(stack, api):
    with stack.client(api) as c:
        assert c.client_id == api
        assert repr(c) == f"<mqe2e.Client {api} not connected>"
    with pytest.raises(mqe2e.Error) as ei:
        c.publish("s4/x", "x")
    assert "closed" in ei.value.hint
    c.close()          # idempotent


def test_subscribe_before_connect(stack, api):
    with stack.client(api) as c:
        with pytest.raises(mqe2e.Error) as ei:
            c.subscribe("s4/#")
        assert "connect" in ei.value.hint


def test_receive_timeout(stack, api):
    with stack.client(api) as c:
        c.connect()
        c.subscribe("s4/nothing", qos=1)
        t0 = time.monotonic()
        with pytest.raises(mqe2e.Timeout) as ei:
            c.receive(timeout=0.3)
        assert time.monotonic() - t0 >= 0.3
        assert isinstance(ei.value, TimeoutError)


def test_payload_types(stack, api):
    with stack.client(api, group="g4") as c:
        c.connect()
        c.subscribe("s4/types", qos=1)
        for p in (b"bytes", bytearray(b"ba"), memoryview(b"mv"), "str \u00e9", 42, 1.5, None):
            c.publish("s4/types", p, qos=1)
        got = [c.receive(timeout=10).payload for _ in range(7)]
        with pytest.raises(TypeError):
            c.publish("s4/types", object())
    assert got == [b"bytes", b"ba", b"mv", "str \u00e9".encode(), b"42", b"1.5", b""]


def test_calls_not_allowed_in_callbacks(stack, api):
    errors = {}
    done = threading.Event()
    with stack.client(api, group="g4") as c:
        def on_message(cl, ud, m):
            for name, call in (("receive", lambda: cl.receive(0)), ("close", cl.close),
                               ("connect", cl.connect)):
                try:
                    call()
                except RuntimeError as e:
                    errors[name] = str(e)
            done.set()
        c.on_message = on_message
        c.connect()
        c.subscribe("s4/cb", qos=1)
        c.publish("s4/cb", "x", qos=1)
        assert done.wait(10)
        assert c.is_connected()     # close() in the callback did nothing
    assert sorted(errors) == ["close", "connect", "receive"], errors


def test_raising_callback_is_logged(stack, caplog, api):
    n = []
    with stack.client(api, group="g4") as c:
        def on_message(cl, ud, m):
            n.append(m)
            raise ValueError("bug in the application")
        c.on_message = on_message
        c.connect()
        c.subscribe("s4/raise", qos=1)
        with caplog.at_level(logging.ERROR, logger="mqe2e"):
            c.publish("s4/raise", "1", qos=1)
            c.publish("s4/raise", "2", qos=1)
            wait_until(lambda: len(n) == 2, 10, "both messages despite the exception")
        assert c.is_connected()
    assert "bug in the application" in caplog.text


def test_queue_bound_reports_drops(stack, api):
    errs = []
    with stack.client(api, group="g4", max_queued=2) as c:
        c.on_error = lambda cl, ud, e: errs.append(e)
        c.connect()
        c.subscribe("s4/q", qos=1)
        for i in range(4):
            c.publish("s4/q", str(i), qos=1)
        wait_until(lambda: len(errs) == 2, 10, "two drops reported")
        assert [c.receive(1).payload for _ in range(2)] == [b"0", b"1"]
    assert all(e.code == mqe2e.ErrorCode.TOO_LONG and "s4/q" in e.hint for e in errs)


def test_last_reference_dropped_in_callback(stack, api):
    """The client's last reference goes away inside its own callback: it is
    freed from another thread (freeing on the library's thread would hang)."""
    done = threading.Event()
    holder = {}

    def on_message(cl, ud, m):
        holder.clear()          # drop the only other reference
        done.set()

    c = stack.client(api, group="g4")
    c.on_message = on_message
    c.connect()
    c.subscribe("s4/drop", qos=1)
    holder["c"] = c
    del c
    holder["c"].publish("s4/drop", "bye", qos=1)
    assert done.wait(10)
    gc.collect()
    # the library's threads are gone within a few seconds
    wait_until(lambda: not any(t.name == "mqe2e-free" for t in threading.enumerate()),
               15, "the freeing thread to finish")
    # and a new client with the same id connects (the old one disconnected)
    with stack.client(api) as again:
        again.connect()


def test_reconnect_and_on_disconnect(stack, api):
    """The broker restarts: on_disconnect, then on_connect after the library
    reconnected by itself, and publishing works again."""
    events = []
    with stack.client(api, group="g4", reconnect_min_ms=100, reconnect_max_ms=500) as c:
        c.on_connect = lambda cl, ud: events.append("up")
        c.on_disconnect = lambda cl, ud: events.append("down")
        c.connect()
        c.subscribe("s4/rc", qos=1)
        stack.broker.terminate()
        stack.broker.wait(10)
        wait_until(lambda: "down" in events, 10, "on_disconnect")
        stack.start_broker()
        wait_until(lambda: events.count("up") == 2, 20, "the automatic reconnect")
        c.publish("s4/rc", "after the restart", qos=1)
        assert c.receive(10).payload == b"after the restart"
    assert events[:3] == ["up", "down", "up"]


def test_overlapping_subscriptions_deliver_once(stack, api):
    """Two subscriptions match: the library calls back once for each; the
    binding delivers once, as paho-mqtt does.  A subscription with its own
    callback takes the messages it matches from on_message/receive()."""
    own = []
    with stack.client(api, group="g4") as c:
        c.connect()
        c.subscribe("s4/#", qos=1)
        c.subscribe("s4/ov", qos=1)
        c.subscribe("s4/+", qos=1)
        c.publish("s4/ov", "both", qos=1)
        c.publish("s4/ov/deep", "one", qos=1)
        assert [c.receive(10).payload for _ in range(2)] == [b"both", b"one"]
        with pytest.raises(mqe2e.Timeout):
            c.receive(1)
        c.subscribe("s4/own", qos=1, callback=lambda cl, ud, m: own.append(m.payload))
        c.publish("s4/own", "mine", qos=1)
        c.publish("s4/x", "queued", qos=1)
        assert c.receive(10).payload == b"queued"
        with pytest.raises(mqe2e.Timeout):
            c.receive(1)
    assert own == [b"mine"]


@pytest.mark.parametrize("flt,topic,want", [
    ("a/b", "a/b", True), ("a/+", "a/b", True), ("a/+", "a/b/c", False), ("a/#", "a", True),
    ("a/#", "a/b/c", True), ("#", "$SYS/x", False), ("+/x", "$a/x", False),
    ("$a/#", "$a/x", True), ("a/+/c", "a//c", True), ("a", "a/b", False), ("+", "", True),
    ("a/b", "a", False), ("#", "a", True)])
def test_topic_matches(flt, topic, want):
    from mqe2e.client import topic_matches
    assert topic_matches(flt, topic) is want


def test_disconnect_inside_a_callback(stack, tmp_path, api):
    """disconnect() inside on_message runs on_disconnect in the middle of
    it; receive() afterwards, still inside on_message, is still refused
    (the nested callback restored the mark instead of clearing it).
    In a process of its own: paho 1.3 can be left unable to connect another
    client in the same process after this sequence (see python/README.md)."""
    program = textwrap.dedent(f"""
        import json, threading, time
        import mqe2e
        seen = {{}}
        done = threading.Event()
        with mqe2e.Client({api!r}, cert={str(stack.dir / (api + '.crt'))!r},
                          key={str(stack.dir / (api + '.key'))!r},
                          cafile={str(stack.dir / 'ca.crt')!r}, kms={stack.kms_url!r}) as c:
            def on_message(cl, ud, m):
                cl.disconnect(timeout=0)
                try:
                    cl.receive(0)
                    seen["receive"] = "allowed"
                except RuntimeError:
                    seen["receive"] = "refused"
                done.set()
            c.on_disconnect = lambda cl, ud: seen.setdefault("on_disconnect", True)
            c.on_message = on_message
            c.connect("127.0.0.1", {stack.mqtt_port})
            c.subscribe("s4/dc", qos=1)
            c.publish("s4/dc", "x", qos=0)   # no PUBACK to wait for: the callback disconnects
            assert done.wait(10)
            while c.is_connected():
                time.sleep(0.05)
        print(json.dumps(seen, sort_keys=True))
    """)
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"on_disconnect": True, "receive": "refused"}


def test_exit_without_close(stack, tmp_path, api):
    """A program that ends while its client is connected and messages are
    arriving exits promptly and cleanly: the client is freed at exit."""
    program = textwrap.dedent(f"""
        import mqe2e
        c = mqe2e.Client({api!r}, cert={str(stack.dir / (api + '.crt'))!r}, key={str(stack.dir / (api + '.key'))!r},
                         cafile={str(stack.dir / 'ca.crt')!r}, kms={stack.kms_url!r}, group="g4")
        c.on_message = lambda cl, ud, m: print(m.payload.decode(), flush=True)
        c.connect("127.0.0.1", {stack.mqtt_port})
        c.subscribe("s4/exit", qos=1)
        for i in range(20):
            c.publish("s4/exit", str(i), qos=1)
    """)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "0" in r.stdout.split(), r.stdout
    assert time.monotonic() - t0 < 30


def test_arguments(stack, api):
    """Paths as pathlib.Path; a NUL that C would cut a string at is refused;
    connect(port=...) keeps the configured host."""
    from pathlib import Path
    files = {k: Path(v) if k != "kms" else v for k, v in stack.files(api).items()}
    with mqe2e.Client(api, broker="tcp://127.0.0.1:1", **files) as c:
        c.connect(port=stack.mqtt_port)
        assert c.is_connected()
        with pytest.raises(ValueError, match="NUL"):
            c.publish("s4/a\0b", "x")
        with pytest.raises(ValueError, match="NUL"):
            c.subscribe("s4/\0#")
    with pytest.raises(ValueError, match="NUL"):
        mqe2e.Client(api, **dict(stack.files(api), cert=stack.files(api)["cert"] + "\0x"))
