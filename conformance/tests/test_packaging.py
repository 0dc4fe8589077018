"""The package never breaks pytest startup elsewhere: it registers no pytest plugin to be autoloaded.

A ``pytest11`` entry point would make pytest import ``elbus_conformance.pytest_plugin``
(and pytest-asyncio) in every pytest run of the environment, and fail at startup
wherever that import fails; the fixtures are imported by a conftest instead.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_project_declares_no_pytest_plugin() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert "pytest11" not in project.get("entry-points", {})


def test_the_installed_distribution_has_no_pytest_plugin() -> None:
    entry_points = importlib.metadata.distribution("elbus-conformance").entry_points
    assert [e for e in entry_points if e.group == "pytest11"] == []
    assert [e.name for e in entry_points if e.group == "console_scripts"] == ["elbus-conformance"]


def test_every_autoloaded_pytest_plugin_of_the_environment_imports() -> None:
    for entry_point in importlib.metadata.entry_points(group="pytest11"):
        assert not entry_point.value.startswith("elbus_conformance"), entry_point
        entry_point.load()


def test_pytest_starts_with_plugins_autoloaded(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_nothing() -> None:\n    pass\n")
    env_free = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no PYTEST_DISABLE_PLUGIN_AUTOLOAD, no PYTEST_PLUGINS
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env_free,
    )
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout + run.stderr
