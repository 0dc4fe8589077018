"""Users install packages one by one: each wheel works in a fresh venv with only its elbus dependencies beside it."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The packages `make setup` installs and `make dist` builds: one line of the root Makefile.
PACKAGES = re.search(r"^PACKAGES\s*:?=(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()  # type: ignore[union-attr]

SPEC_ONLY = (
    "import elbus_spec as s\n"
    "c = s.ClientConnection('x')\n"
    "c.receive_data(bytes.fromhex('eb0100') + b'\\x01\\x01')\n"
    "op, data = c.send_message('y', b'hi', s.QoS.PROCESSED)\n"
    "assert data.hex() == '01000000520400000079006869', data.hex()\n"
    "import importlib.util as u; assert u.find_spec('construct') is None\n"
)
# A client wheel next to the spec wheel alone: it imports from the installed wheel and shares the spec's exceptions.
CLIENT = (
    "import importlib, elbus_spec\n"
    "m = importlib.import_module('{module}')\n"
    "assert m.ConnectionClosed is elbus_spec.ConnectionClosed\n"
    "assert m.__file__.find('site-packages') > 0, m.__file__\n"
)


def _wheel(package: str, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT / package)],
        check=True,
        capture_output=True,
    )
    [wheel] = out.glob("*.whl")  # each package builds into a directory of its own
    return wheel


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("packages", "script"),
    [
        (["spec"], SPEC_ONLY),
        (["spec", "client-sync"], CLIENT.format(module="elbus_client")),
        (["spec", "client-async"], CLIENT.format(module="elbus_aio")),
    ],
    ids=lambda v: "+".join(v) if isinstance(v, list) else "",
)
def test_wheels_install_and_work_alone(tmp_path: Path, packages: list[str], script: str) -> None:
    wheels = [_wheel(p, tmp_path / p) for p in packages]
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", *map(str, wheels)],
        check=True,
        capture_output=True,
    )
    # --no-deps would hide a missing requirement: the installed metadata must be satisfied by what is there
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "check"], check=True, capture_output=True)
    subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("package", PACKAGES)
def test_wheel_and_sdist_carry_the_license(tmp_path: Path, package: str) -> None:
    """Every distribution ships the repository's LICENSE: the sdist at its root, the wheel in its metadata."""
    license_text = (ROOT / "LICENSE").read_bytes()
    copy = ROOT / package / "LICENSE"  # hatchling takes license files from the package's own directory
    assert copy.is_file() and copy.read_bytes() == license_text, f"copy LICENSE to {package}/LICENSE"
    subprocess.run(  # the wheel is built from the sdist, as pip does from an sdist
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT / package)],
        check=True,
        capture_output=True,
    )
    [sdist] = tmp_path.glob("*.tar.gz")
    [wheel] = tmp_path.glob("*.whl")
    with tarfile.open(sdist) as tar:
        member = tar.getmember(f"{sdist.name.removesuffix('.tar.gz')}/LICENSE")
        assert member.isfile() and tar.extractfile(member).read() == license_text  # type: ignore[union-attr]
    with zipfile.ZipFile(wheel) as whl:
        dist_info = "-".join(wheel.name.split("-")[:2]) + ".dist-info"
        assert whl.read(f"{dist_info}/licenses/LICENSE") == license_text
        assert "License-Expression: MIT" in whl.read(f"{dist_info}/METADATA").decode()
