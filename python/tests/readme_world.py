"""Run python/README.md's example as written, in a network namespace of its
own (test_readme.py starts this under `unshare -n`): there the example's
fixed addresses - KMS on 127.0.0.1:7780, broker on localhost:1883 - are ours
alone.  Sets up alice with a pub and a sub grant on group "demo" (demo/#),
runs the example in the directory holding alice.crt, alice.key and ca.crt,
and prints its output; exits with its status."""

import re
import subprocess
import sys
from pathlib import Path

from conftest import SRC_PYTHON, Stack


def main() -> int:
    tmp = Path(sys.argv[1])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    stack = Stack(tmp, kms_port=7780, mqtt_port=1883)
    try:
        stack.start_kms()
        stack.enrol("broker", "broker")
        stack.enrol("alice")
        stack.kmsctl("group", "add", "demo", "--filter", "demo/#", "--scheme", "4")
        stack.kmsctl("grant", "add", "alice", "demo", "pub")
        stack.kmsctl("grant", "add", "alice", "demo", "sub")
        stack.start_broker(listen="")
        code = re.search(r"```python\n(.*?)```", (SRC_PYTHON / "README.md").read_text(),
                         re.S).group(1)
        (tmp / "example.py").write_text(code)
        r = subprocess.run([sys.executable, "example.py"], cwd=tmp, capture_output=True,
                           text=True, timeout=60)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        return r.returncode
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
