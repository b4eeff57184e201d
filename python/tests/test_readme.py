"""python/README.md's example runs as written and says what the README
says it prints."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"


def example() -> str:
    m = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert m, "python/README.md has no python example"
    return m.group(1)


def test_example_is_short():
    assert len(example().strip().splitlines()) <= 15


def test_example_runs_as_written(tmp_path):
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("unshare or ip missing: cannot give the example its fixed ports")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here (unshare -n needs root)")
    r = subprocess.run(["unshare", "-n", sys.executable, str(HERE / "readme_world.py"),
                        str(tmp_path)], cwd=HERE, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    said = re.search(r"It prints `(.*?)`", README.read_text()).group(1)
    assert r.stdout.strip() == said
