"""The errors a Python user meets: each raises the exception of its kind,
carrying the library's code and its hint naming what is concerned."""

from __future__ import annotations

import subprocess
import threading

import pytest

import mqe2e
from conftest import free_port


def test_revoked_certificate(stack):
    c = stack.client("gone")
    with pytest.raises(mqe2e.Revoked) as ei:
        c.connect(timeout=10)
    e = ei.value
    assert e.code == mqe2e.ErrorCode.REVOKED and e.name == "REVOKED"
    assert "revoked" in e.hint
    assert isinstance(e, mqe2e.CertificateError) and isinstance(e, mqe2e.Error)
    assert not c.is_connected()
    c.close()


def test_no_grant(stack):
    """A client without any grant connects, but has no key to publish with."""
    with stack.client("nogrant") as c:
        try:
            c.connect()
        except mqe2e.Denied as e:          # refused at connect: also correct
            assert "nogrant" in e.hint and "grant" in e.hint
            return
        with pytest.raises(mqe2e.Denied) as ei:
            c.publish("s4/x", "secret", qos=1)
    e = ei.value
    assert e.code in (mqe2e.ErrorCode.UNKNOWN_KEY, mqe2e.ErrorCode.DENIED)
    assert "nogrant" in e.hint and "grant" in e.hint, e.hint


def test_publish_with_only_a_sub_grant(stack):
    """subonly holds a sub grant on g4: the broker refuses its publish."""
    with stack.client("subonly") as c:
        c.connect()
        with pytest.raises(mqe2e.Denied) as ei:
            c.publish("s4/x", "not mine to say", qos=1)
    assert "s4/x" in ei.value.hint, ei.value.hint


def test_subscription_outside_the_grants(stack):
    with stack.client("subonly") as c:
        c.connect()
        with pytest.raises(mqe2e.Denied) as ei:
            c.subscribe("s3/#", qos=1)
    assert ei.value.code == mqe2e.ErrorCode.DENIED
    assert "s3/#" in ei.value.hint, ei.value.hint


def test_kms_unreachable(stack):
    """Nothing listens at the KMS URL and no key cache: Unavailable, naming
    the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    c = mqe2e.Client("py", **dict(stack.files("py"), kms=url),
                     broker=f"tcp://127.0.0.1:{stack.mqtt_port}", kms_timeout_ms=2000,
                     key_cache=False)
    with pytest.raises(mqe2e.Unavailable) as ei:
        c.connect(timeout=5)
    assert ei.value.code == mqe2e.ErrorCode.UNAVAILABLE
    assert url in ei.value.hint or "KMS" in ei.value.hint, ei.value.hint
    assert isinstance(ei.value, ConnectionError)
    c.close()


def test_kms_down_live_client_goes_on(stack):
    """The real KMS stops: a connected client keeps publishing with the keys
    it holds; a new client without a key cache cannot connect (Unavailable);
    once the KMS is back the new client connects."""
    got = []
    done = threading.Event()
    with stack.client("py", group="g4") as live, stack.client("csub") as sub:
        live.connect()
        sub.connect()
        sub.subscribe("s4/outage", qos=1,
                      callback=lambda cl, ud, m: (got.append(m.payload), done.set()))
        stack.stop_kms()
        try:
            live.publish("s4/outage", "during the outage", qos=1)
            assert done.wait(20), "the live client could not publish with the KMS down"
            with pytest.raises(mqe2e.Unavailable) as ei:
                stack.client("cpub", kms_timeout_ms=2000, key_cache=False).connect(timeout=5)
            assert "KMS" in ei.value.hint or stack.kms_url in ei.value.hint, ei.value.hint
        finally:
            stack.start_kms()
        fresh = stack.client("cpub", group="g4")
        fresh.connect()
        fresh.close()
    assert got == [b"during the outage"]


def test_broker_unreachable(stack):
    c = mqe2e.Client("py", **stack.files("py"))
    with pytest.raises(mqe2e.Error) as ei:
        c.connect("127.0.0.1", free_port(), timeout=3)
    assert ei.value.code in (mqe2e.ErrorCode.UNAVAILABLE, mqe2e.ErrorCode.TIMEOUT)
    assert "broker" in ei.value.hint, ei.value.hint
    c.close()


def test_files_and_options(stack, tmp_path):
    """Construction fails at once, naming the file or option."""
    missing = str(tmp_path / "missing.crt")
    with pytest.raises(mqe2e.Error) as ei:
        mqe2e.Client("py", **dict(stack.files("py"), cert=missing))
    assert missing in ei.value.hint
    with pytest.raises(mqe2e.CertificateError) as ei:
        mqe2e.Client("someone-else", **stack.files("py"))
    assert "someone-else" in ei.value.hint
    with pytest.raises(mqe2e.ConfigError) as ei:
        mqe2e.Client("py", **stack.files("py"), no_such_option=1)
    assert "no_such_option" in ei.value.hint and isinstance(ei.value, ValueError)
    with pytest.raises(mqe2e.ConfigError) as ei:
        mqe2e.Client("py", **stack.files("py"), keepalive=-5)
    assert "keepalive" in ei.value.hint


def test_wrong_ca(stack, tmp_path):
    """A CA file that is not a CA is refused at construction; a CA that is
    not the KMS's is refused at connect; both name the file."""
    not_ca = str(stack.dir / "cpub.crt")
    with pytest.raises(mqe2e.CertificateError) as ei:
        mqe2e.Client("py", **dict(stack.files("py"), cafile=not_ca))
    assert not_ca in ei.value.hint
    key, crt = tmp_path / "other-ca.key", tmp_path / "other-ca.crt"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "req", "-x509", "-key", key, "-subj", "/CN=other", "-days", "2",
                    "-out", crt, "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"], check=True,
                   capture_output=True)
    c = mqe2e.Client("py", **dict(stack.files("py"), cafile=str(crt)),
                     broker=f"tcp://127.0.0.1:{stack.mqtt_port}")
    with pytest.raises(mqe2e.CertificateError) as ei:
        c.connect(timeout=5)
    c.close()
    assert str(crt) in ei.value.hint, ei.value.hint
