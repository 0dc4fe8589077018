"""Users install packages one by one: each wheel works in a fresh venv with only its elbus dependencies beside it."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

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
