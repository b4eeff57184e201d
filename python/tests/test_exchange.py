"""Python and C clients exchange messages through the real broker, for each
scheme, in both directions; the broker's plain view never holds the
plaintext."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

import pytest

from conftest import SCHEMES, wait_until

N = 20


def lines(scheme: int, who: str) -> list[str]:
    mark = f"PLAINTEXT-MARKER-{secrets.token_hex(8)}"
    return [f"{mark} {who} message {i} of {N}: scheme {scheme}" for i in range(1, N + 1)]


@pytest.fixture
def curious(stack, tmp_path):
    """A plain mosquitto_sub on everything: the broker's view."""
    if shutil.which("mosquitto_sub") is None:
        yield None
        return
    out = tmp_path / "plain.out"
    p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(stack.mqtt_port),
                          "-V", "mqttv5", "-i", f"curious-{os.getpid()}-{tmp_path.name}",
                          "-t", "#", "-v"], stdout=open(out, "wb"), stderr=subprocess.DEVNULL)
    yield out
    p.terminate()
    p.wait(10)


def assert_unseen(curious, expected: list[str]) -> None:
    if curious is None:
        return
    seen = curious.read_bytes()
    assert expected[0].split()[0].encode() not in seen, "the broker saw the plaintext"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_c_publisher_to_python_subscriber(stack, curious, scheme):
    expected = lines(scheme, "C")
    with stack.client("py") as c:
        c.connect()
        c.subscribe(f"s{scheme}/#", qos=1)
        args = ["-t", f"s{scheme}/line", "-q", "1", "-l", "--group", f"g{scheme}"]
        if scheme <= 2:
            args += ["--to", "py"]      # pairwise keys: name the subscriber
        r = stack.pub("cpub", *args, input="\n".join(expected) + "\n")
        assert r.returncode == 0, f"mqe2e-pub exit {r.returncode}: {r.stderr}"
        got = [c.receive(timeout=20) for _ in expected]
    assert [m.payload.decode() for m in got] == expected
    for m in got:
        assert (m.topic, m.sender, m.group, m.scheme, m.qos) == \
            (f"s{scheme}/line", "cpub", f"g{scheme}", scheme, 1)
        assert m.epoch >= 1 and not m.retain
    assert_unseen(curious, expected)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_python_publisher_to_c_subscriber(stack, curious, scheme):
    expected = lines(scheme, "Python")
    out = f"csub{scheme}.out"
    sub = stack.sub_bg("csub", out, "-t", f"s{scheme}/#", "-q", "1", "-C", str(N), "-W", "60")
    opts = {"group": f"g{scheme}"}
    if scheme <= 2:
        opts["recipients"] = ["csub"]
    with stack.client("py", **opts) as c:
        c.connect()
        for line in expected:
            c.publish(f"s{scheme}/line", line, qos=1)
        assert sub.wait(60) == 0, stack.read(out + ".err")
    assert stack.read(out).splitlines() == expected
    assert f"from 'py' (group 'g{scheme}', epoch" in stack.read(out + ".err")
    assert f"scheme {scheme}" in stack.read(out + ".err")
    assert_unseen(curious, expected)


def test_python_to_python_callbacks(stack):
    """on_message, a subscription's own callback, on_connect, and publishing
    from inside a callback (the echo reaches the publisher)."""
    import threading
    got, echoes, events = [], [], []
    done = threading.Event()
    with stack.client("py", group="g4") as echo, stack.client("cpub", group="g4") as ask:
        echo.on_connect = lambda cl, ud: events.append(("connect", ud))
        echo.userdata = "ud"

        def on_message(cl, ud, m):
            got.append(m)
            cl.publish("s4/answer", b"echo:" + m.payload, qos=1)   # from the callback

        echo.on_message = on_message
        echo.connect()
        echo.subscribe("s4/question", qos=1)
        listen = stack.client("csub")
        listen.connect()
        listen.subscribe("s4/answer", qos=1,
                         callback=lambda cl, ud, m: (echoes.append(m.payload), done.set()))
        ask.connect()
        ask.publish("s4/question", "ping", qos=1)
        assert done.wait(20), "the echo published from a callback never came"
        listen.close()
    assert events == [("connect", "ud")]
    assert [m.payload for m in got] == [b"ping"] and got[0].sender == "cpub"
    assert echoes == [b"echo:ping"]


def test_iterator_ends_at_disconnect(stack):
    with stack.client("py", group="g3") as c:
        c.connect()
        c.subscribe("s3/it", qos=1)
        for i in range(3):
            c.publish("s3/it", f"m{i}", qos=1)
        wait_until(lambda: len(c._queue) == 3, 20, "3 messages queued")
        c.disconnect()
        assert [m.payload for m in c] == [b"m0", b"m1", b"m2"]
        assert not c.is_connected()


def test_one_client_publishes_to_every_group(stack):
    """No group and no recipients configured: each topic finds its group, and
    schemes 1/2 seal for the broker's roster of connected subscribers."""
    args = []       # one C subscriber on every group's filter
    for scheme in SCHEMES:
        args += ["-t", f"s{scheme}/#"]
    sub = stack.sub_bg("csub", "any.out", *args, "-q", "1", "-v", "-C", str(len(SCHEMES)),
                       "-W", "60")
    with stack.client("py") as c:
        c.connect()
        for scheme in SCHEMES:
            c.publish(f"s{scheme}/any", f"to scheme {scheme}", qos=1)
        assert sub.wait(60) == 0, stack.read("any.out.err")
    got = sorted(stack.read("any.out").splitlines())
    assert got == [f"s{s}/any to scheme {s}" for s in SCHEMES]
