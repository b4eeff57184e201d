"""The real mqe2e stack for the binding's tests: mqe2e-kmsd with its SQLite
database, Mosquitto loading mqe2e_plugin.so, the C tools mqe2e-pub and
mqe2e-sub, all from the build tree, on free loopback ports under a temporary
directory.  (The Python counterpart of tests/client_lib.sh.)

Environment: MQE2E_BUILDDIR, the top build directory (default ../build next
to this tree); MOSQUITTO, the broker binary.  tests/python16_lib.sh sets
both, and MQE2E_LIBRARY, under `make check`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SRC_PYTHON = HERE.parent
BUILDDIR = Path(os.environ.get("MQE2E_BUILDDIR", SRC_PYTHON.parent / "build")).resolve()
os.environ["MQE2E_BUILDDIR"] = str(BUILDDIR)         # for child processes
os.environ["MQE2E_LIBRARY"] = str(Path(os.environ.get(
    "MQE2E_LIBRARY", BUILDDIR / "client/.libs/libmqe2e.so")).resolve())
sys.path.insert(0, str(SRC_PYTHON))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_PYTHON),
                                                         os.environ.get("PYTHONPATH")]))

KMSD = BUILDDIR / "kmsd/mqe2e-kmsd"
KMSCTL = BUILDDIR / "kmsctl/mqe2e-kmsctl"
PUB = BUILDDIR / "client/mqe2e-pub"
SUB = BUILDDIR / "client/mqe2e-sub"
PLUGIN = BUILDDIR / "broker-ext/.libs/mqe2e_plugin.so"
MOSQUITTO = os.environ.get("MOSQUITTO") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"

# Our C tools may be sanitizer builds: leaks are bugs there (as in client_lib.sh).
TOOL_ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, seconds: float = 15.0, what: str = "condition") -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


class Stack:
    """One KMS, one broker, a PKI directory; methods to drive them."""

    def __init__(self, tmp: Path, kms_port: int | None = None,
                 mqtt_port: int | None = None) -> None:
        for f in (KMSD, KMSCTL, PUB, SUB, PLUGIN):
            if not f.exists():
                pytest.skip(f"{f} is not built (MQE2E_BUILDDIR={BUILDDIR})")
        if not os.access(MOSQUITTO, os.X_OK):
            pytest.skip(f"mosquitto not installed ({MOSQUITTO})")
        self.dir = tmp
        self.kms_dir = tmp / "kms"
        self.kms_port = kms_port or free_port()
        self.mqtt_port = mqtt_port or free_port()
        self.kms_url = f"http://127.0.0.1:{self.kms_port}"
        self.kms: subprocess.Popen | None = None
        self.broker: subprocess.Popen | None = None
        self.procs: list[subprocess.Popen] = []

    # -- KMS --
    def start_kms(self) -> None:
        self.kms_dir.mkdir(mode=0o700, exist_ok=True)
        log = open(self.dir / "kmsd.log", "ab")
        self.kms = subprocess.Popen([KMSD, "--data-dir", self.kms_dir, "--listen",
                                     f"127.0.0.1:{self.kms_port}"], stdout=log, stderr=log,
                                    env=TOOL_ENV)

        def healthy() -> bool:
            assert self.kms.poll() is None, f"mqe2e-kmsd exited: {self.log('kmsd.log')}"
            try:
                with urllib.request.urlopen(self.kms_url + "/v1/health", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_until(healthy, 10, "mqe2e-kmsd /v1/health")

    def stop_kms(self) -> None:
        if self.kms is not None:
            self.kms.terminate()
            self.kms.wait(10)
            self.kms = None

    def kmsctl(self, *args: str) -> str:
        env = dict(TOOL_ENV, MQE2E_KMS_URL=self.kms_url,
                   MQE2E_KMS_TOKEN_FILE=str(self.kms_dir / "admin.token"))
        r = subprocess.run([KMSCTL, *args], env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"mqe2e-kmsctl {' '.join(args)}: exit {r.returncode}\n{r.stderr}"
        return r.stdout

    def enrol(self, name: str, kind: str = "client") -> None:
        self.kmsctl("client", "add", name, "--kind", kind)
        self.kmsctl("cert", "issue", name, "--generate", "--out-dir", str(self.dir))

    # -- broker --
    def start_broker(self, listen: str = "127.0.0.1") -> None:
        """listen: the listener's address ("" for all, IPv4 and IPv6)."""
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"""user root
per_listener_settings false
max_packet_size 1048576
listener {self.mqtt_port}{" " + listen if listen else ""}
allow_anonymous true
plugin {PLUGIN}
plugin_opt_kms_url {self.kms_url}
plugin_opt_cert {self.dir}/broker.crt
plugin_opt_key {self.dir}/broker.key
plugin_opt_cafile {self.dir}/ca.crt
plugin_opt_allow_plain true
log_dest stderr
log_type error
log_type warning
log_type notice
""")
        log = open(self.dir / "mosquitto.log", "ab")
        # an instrumented plugin in the stock broker needs the sanitizer
        # runtime preloaded: the caller's LD_PRELOAD and ASAN_OPTIONS pass on
        self.broker = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=log, stderr=log)

        def listening() -> bool:
            assert self.broker.poll() is None, f"mosquitto exited: {self.log('mosquitto.log')}"
            try:
                socket.create_connection(("127.0.0.1", self.mqtt_port), 0.5).close()
                return True
            except OSError:
                return False
        wait_until(listening, 10, f"mosquitto on port {self.mqtt_port}")
        time.sleep(0.5)   # the plugin's first policy fetch

    def log(self, name: str) -> str:
        p = self.dir / name
        return p.read_text(errors="replace")[-3000:] if p.exists() else "(no log)"

    # -- clients --
    def files(self, name: str) -> dict[str, str]:
        """cert/key/cafile/kms keyword arguments for mqe2e.Client."""
        return dict(cert=str(self.dir / f"{name}.crt"), key=str(self.dir / f"{name}.key"),
                    cafile=str(self.dir / "ca.crt"), kms=self.kms_url)

    def client(self, name: str, **options):
        import mqe2e
        return mqe2e.Client(name, broker=f"tcp://127.0.0.1:{self.mqtt_port}",
                            **self.files(name), **options)

    def tool_args(self, name: str) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.mqtt_port), "--cert", str(self.dir / f"{name}.crt"),
                "--key", str(self.dir / f"{name}.key"), "--cafile", str(self.dir / "ca.crt"),
                "--kms", self.kms_url]

    def pub(self, name: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([PUB, *self.tool_args(name), *args], input=input, text=True,
                              capture_output=True, env=TOOL_ENV, timeout=120)

    def sub_bg(self, name: str, out: str, *args: str) -> subprocess.Popen:
        """mqe2e-sub -d in the background, stdout to OUT, stderr to OUT.err;
        returns once it says it subscribed."""
        stdout = open(self.dir / out, "wb")
        stderr = open(self.dir / f"{out}.err", "wb")
        p = subprocess.Popen([SUB, *self.tool_args(name), "-d", *args], stdout=stdout,
                             stderr=stderr, env=TOOL_ENV)
        self.procs.append(p)
        wait_until(lambda: "subscribed to" in self.read(f"{out}.err") or p.poll() is not None,
                   20, f"mqe2e-sub {name} to subscribe")
        assert p.poll() is None, f"mqe2e-sub {name} exited {p.returncode}: {self.read(out + '.err')}"
        return p

    def read(self, name: str) -> str:
        p = self.dir / name
        return p.read_text(errors="replace") if p.exists() else ""

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.broker is not None:
            self.broker.send_signal(signal.SIGTERM)
            try:
                self.broker.wait(10)
            except subprocess.TimeoutExpired:
                self.broker.kill()
                self.broker.wait()
        self.stop_kms()


SCHEMES = (1, 2, 3, 4)
# The binding's own tests connect often: they take turns among these ids
# (pub and sub on g4), since the broker admits 32 handshakes per client id
# in its nonce window (plugin_opt_nonce_per_client).
API_NAMES = ("api0", "api1", "api2", "api3")
_api_turn = itertools.count()


@pytest.fixture
def api() -> str:
    """A client id for one test of the binding's behaviour."""
    return API_NAMES[next(_api_turn) % len(API_NAMES)]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """KMS + broker; groups gS on "sS/#" of scheme S = 1..4.  Clients: py (the
    Python client: pub and sub on every group), cpub (C publisher), csub (C
    subscriber), nogrant (no grant), subonly (sub grant on g4 only), gone
    (revoked)."""
    s = Stack(tmp_path_factory.mktemp("stack"))
    try:
        s.start_kms()
        s.enrol("broker", "broker")
        for name in ("py", "cpub", "csub", "nogrant", "subonly", "gone"):
            s.enrol(name)
        for scheme in SCHEMES:
            g = f"g{scheme}"
            s.kmsctl("group", "add", g, "--filter", f"s{scheme}/#", "--scheme", str(scheme))
            s.kmsctl("grant", "add", "py", g, "pub")
            s.kmsctl("grant", "add", "py", g, "sub")
            s.kmsctl("grant", "add", "cpub", g, "pub")
            s.kmsctl("grant", "add", "csub", g, "sub")
        s.kmsctl("grant", "add", "subonly", "g4", "sub")
        for name in API_NAMES:
            s.enrol(name)
            s.kmsctl("grant", "add", name, "g4", "pub")
            s.kmsctl("grant", "add", name, "g4", "sub")
        s.kmsctl("client", "revoke", "gone", "--reason", "test")
        s.start_broker()
        yield s
    finally:
        s.close()
