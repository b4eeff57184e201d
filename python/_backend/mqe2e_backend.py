"""A PEP 517 build backend for the pure-Python mqe2e package, in the tree.

It needs nothing beyond the standard library, so `pip install ./python`
works without a network (pip's isolated build environment has nothing to
download) and without setuptools.  It builds wheels (also the editable kind
of PEP 660) and source distributions of the files under mqe2e/.
"""

import base64
import hashlib
import io
import os
import tarfile
import zipfile

NAME = "mqe2e"
VERSION = "0.1.0"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "py3-none-any"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
SDIST_FILES = ["pyproject.toml", "README.md", "_backend/mqe2e_backend.py"]


def _package_files():
    out = []
    pkg = os.path.join(HERE, NAME)
    for f in sorted(os.listdir(pkg)):
        if f.endswith(".py") or f == "py.typed":
            out.append(f"{NAME}/{f}")
    return out


def _metadata():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
            "Summary: End-to-end secured MQTT through an untrusted broker (binding over libmqe2e)\n"
            "Requires-Python: >=3.11\nLicense: see the mqe2e source tree\n"
            "Description-Content-Type: text/markdown\n\n" + readme)


def _wheel(wheel_directory, files):
    """files: list of (archive name, bytes); writes the wheel, returns its name."""
    files = files + [
        (f"{DIST_INFO}/METADATA", _metadata().encode("utf-8")),
        (f"{DIST_INFO}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: mqe2e_backend\n"
                                f"Root-Is-Purelib: true\nTag: {TAG}\n").encode()),
    ]
    record = []
    for name, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(data)}")
    record.append(f"{DIST_INFO}/RECORD,,")
    files.append((f"{DIST_INFO}/RECORD", ("\n".join(record) + "\n").encode()))
    wheel_name = f"{NAME}-{VERSION}-{TAG}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return wheel_name


def _read(rel):
    with open(os.path.join(HERE, rel), "rb") as f:
        return f.read()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, [(rel, _read(rel)) for rel in _package_files()])


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # a .pth file puts this source directory on sys.path
    return _wheel(wheel_directory, [(f"__editable__.{NAME}.pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{VERSION}"
    name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as t:
        for rel in SDIST_FILES + _package_files():
            t.add(os.path.join(HERE, rel), arcname=f"{base}/{rel}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = _metadata().encode("utf-8")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []
