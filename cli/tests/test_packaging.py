"""The command is its own package: it needs the clients and the RPC layer, never the broker."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from cli_broker import BrokerThread

ROOT = Path(__file__).resolve().parents[2]
# What a user who only wants the command installs: the cli and its elbus requirements, no broker.
CLIENT_SIDE = ["spec", "client-async", "rpc", "cli"]

# Runs the command in a fresh interpreter where the broker package cannot be imported at all.
_WITHOUT_BROKER = """
import sys

class NoBroker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "elbus_server":
            raise ImportError("elbus_server is not installed")
        return None

sys.meta_path.insert(0, NoBroker())
import elbus_cli

code = elbus_cli.main(sys.argv[1:])
assert "elbus_server" not in sys.modules
sys.exit(code)
"""


def _scripts(distribution: str) -> list[str]:
    return [e.name for e in importlib.metadata.distribution(distribution).entry_points if e.group == "console_scripts"]


def test_importing_every_module_imports_no_broker() -> None:
    names = ("app", "commands", "benchmark", "output", "payload", "progress", "top", "top_live", "top_view")
    modules = ", ".join(f"elbus_cli.{name}" for name in names)
    check = f"import sys, {modules}; assert 'elbus_server' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)


def test_commands_run_where_the_broker_package_cannot_be_imported(broker: BrokerThread) -> None:
    benchmark = ["--json", "benchmark", "-i", "50", "--stage", "rpc.call"]
    commands = (["broker", "test"], benchmark, ["top", "--once", "--interval", "0.1"])
    for args in commands:
        run = subprocess.run(
            [sys.executable, "-c", _WITHOUT_BROKER, broker.path, *args], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout


def test_the_distribution_requires_no_broker_and_owns_the_command() -> None:
    # "elbus-aio<0.2,>=0.1" -> "elbus-aio"
    requires = [re.match(r"[\w.-]+", text).group() for text in importlib.metadata.requires("elbus-cli") or []]  # type: ignore[union-attr]
    assert "elbus-server" not in requires and {"elbus-aio", "elbus-rpc"} <= set(requires)
    assert _scripts("elbus-cli") == ["elbus"] and _scripts("elbus-server") == ["elbusd"]


def _link_installed(distribution: str, site_packages: Path) -> None:
    """Put an installed third-party distribution (its files and metadata) into another environment, by symlinks.

    The test environment stays off the network: the requirement the wheels
    declare is satisfied by the copy this environment already has.
    """
    dist = importlib.metadata.distribution(distribution)
    tops = {Path(str(file)).parts[0] for file in dist.files or []}
    for top in tops - {"..", "bin"}:
        (site_packages / top).symlink_to(Path(str(dist.locate_file(top))))


@pytest.mark.timeout(300)
def test_the_wheels_without_the_broker_give_a_working_command(tmp_path: Path, broker: BrokerThread) -> None:
    wheels = []
    for package in CLIENT_SIDE:
        out = tmp_path / package
        build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT / package)]
        subprocess.run(build, check=True, capture_output=True)
        wheels += out.glob("*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    [site_packages] = (env_dir / "lib").glob("python3*/site-packages")
    for third_party in ("msgpack", "rich", "markdown-it-py", "mdurl", "pygments"):  # rich's requirements after it
        _link_installed(third_party, site_packages)
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "-q", "--no-deps", *map(str, wheels)], check=True, capture_output=True)
    # Every requirement of what is installed is there: the cli requires no broker.
    subprocess.run([*pip, "check"], check=True, capture_output=True)
    check = "import elbus_cli.app, importlib.util, sys; assert 'elbus_server' not in sys.modules; "
    check += "assert importlib.util.find_spec('elbus_server') is None"
    subprocess.run([str(python), "-c", check], check=True, capture_output=True)
    command = [str(env_dir / "bin" / "elbus"), broker.path, "broker", "test"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout, run.stderr) == (0, "OK\n", "")
