"""`pip install ./python` works offline in a fresh virtual environment (no
index, no setuptools: the in-tree build backend), and the installed package
talks to the real stack."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import SRC_PYTHON


def test_pip_install_offline(stack, tmp_path):
    venv = tmp_path / "venv"
    r = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"python3 -m venv does not work here (Debian: python3-venv): {r.stderr}")
    py = str(venv / "bin/python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_INDEX_URL")}
    r = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-cache-dir",
                        "--disable-pip-version-check", str(SRC_PYTHON)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    program = textwrap.dedent(f"""
        import mqe2e
        print(mqe2e.__file__)
        with mqe2e.Client("py", cert={str(stack.dir / 'py.crt')!r},
                          key={str(stack.dir / 'py.key')!r}, cafile={str(stack.dir / 'ca.crt')!r},
                          kms={stack.kms_url!r}, group="g4") as c:
            c.connect("127.0.0.1", {stack.mqtt_port})
            c.subscribe("s4/installed", qos=1)
            c.publish("s4/installed", "from the installed package", qos=1)
            print(c.receive(timeout=10).payload.decode())
    """)
    r = subprocess.run([py, "-c", program], cwd=tmp_path, capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    where, said = r.stdout.splitlines()
    assert where.startswith(str(venv)), where
    assert said == "from the installed package"
