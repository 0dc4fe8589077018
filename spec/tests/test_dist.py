"""Users install packages one by one: the spec wheel alone works in a fresh virtual environment."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

SPEC = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_spec_wheel_installs_and_works_alone(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(SPEC)],
        check=True,
        capture_output=True,
    )
    [wheel] = dist.glob("elbus_spec-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    script = (
        "import elbus_spec as s\n"
        "c = s.ClientConnection('x')\n"
        "c.receive_data(bytes.fromhex('eb0100') + b'\\x01\\x01')\n"
        "op, data = c.send_message('y', b'hi', s.QoS.PROCESSED)\n"
        "print(data.hex())\n"
        "import importlib.util as u; print(u.find_spec('construct') is None)\n"
    )
    out = subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True).stdout.split()
    assert out == [bytes.fromhex("01000000520400000079006869").hex(), "True"]
