"""The command is its own package: it needs the clients and the RPC layer, never the broker."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

from .broker_thread import BrokerThread

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
    modules = ", ".join(f"elbus_cli.{name}" for name in ("app", "commands", "benchmark", "output", "payload", "progress"))
    check = f"import sys, {modules}; assert 'elbus_server' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)


def test_commands_run_where_the_broker_package_cannot_be_imported(broker: BrokerThread) -> None:
    for args in (["broker", "test"], ["--json", "benchmark", "-i", "50", "--stage", "rpc.call"]):
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
