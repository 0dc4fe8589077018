"""The compiled build and its pure-Python fallback: each runs what it says, both pass, and no compiled module lags its source.

`make setup` compiles the modules each package's pyproject.toml names
(where a C compiler exists) and `make test` runs the whole suite on them;
the pure-Python fallback runs the spec's tests and the broker's routing
tests here, in a subprocess with ``ELBUS_PURE=1``.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

from elbus_spec.compiled import PURE_ENV, compiled_modules, is_compiled, pure_requested

ROOT = Path(__file__).resolve().parents[2]
# The packages `make setup` compiles: one line of the root Makefile.
COMPILED = re.search(r"^COMPILED\s*:?=(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()  # type: ignore[union-attr]
# What `make setup` needs to compile: a C compiler and Python's headers.
CAN_COMPILE = bool(shutil.which(os.environ.get("CC", "cc"))) and Path(sysconfig.get_paths()["include"], "Python.h").is_file()
# What the pure run covers besides the spec's tests: the broker's routing path over real sockets, and its trees.
BROKER_SMOKE = ["server/tests/test_hotpath_batching.py", "server/tests/test_match_cache.py", "server/tests/test_routing.py"]


def _listed(package: str) -> list[str]:
    """The modules ``package`` compiles, by name, as its pyproject.toml lists them for the mypyc build hook."""
    config = tomllib.loads((ROOT / package / "pyproject.toml").read_text())
    paths = config["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]["include"]
    return sorted(str(Path(p).relative_to("src").with_suffix("")).replace("/", ".") for p in paths)


def _extension_modules() -> list[Path]:
    return sorted(path for package in COMPILED for path in (ROOT / package / "src").glob("*/*.so"))


def test_no_compiled_module_is_older_than_its_source() -> None:
    """A compiled module shadows its .py file: one built before the last edit would run the old code."""
    for extension in _extension_modules():
        source = extension.with_name(extension.name.split(".")[0] + ".py")
        assert source.is_file(), f"{extension} has no source left: run `make setup`"
        # The build copies the extension with its time in whole seconds.
        compiled, edited = extension.stat().st_mtime, int(source.stat().st_mtime)
        assert compiled >= edited, f"{source} changed since it was compiled: run `make setup`"


@pytest.mark.parametrize("package", COMPILED)
def test_the_listed_modules_run_compiled_unless_pure(package: str) -> None:
    """Compiled: exactly the modules the package lists. Pure (``ELBUS_PURE`` or no compiler): none."""
    listed = _listed(package)
    modules = [importlib.import_module(name) for name in listed]
    top = listed[0].partition(".")[0]
    built = any((ROOT / package / "src" / top).glob("*.so"))
    if pure_requested() or not built:
        assert compiled_modules(top) == []
    else:
        assert [m.__name__ for m in modules if is_compiled(m)] == listed
        assert compiled_modules(top) == listed


@pytest.mark.skipif(pure_requested(), reason="this is the pure run")
@pytest.mark.timeout(300)
def test_the_pure_fallback_passes_the_spec_tests_and_the_broker_smoke_tests() -> None:
    if not _extension_modules():
        pytest.skip("nothing is compiled here: the whole suite runs pure Python")
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "spec/tests", *BROKER_SMOKE]
    command.append("--ignore=spec/tests/test_dist.py")  # builds wheels, which do not depend on how the tree runs
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, PURE_ENV: "1"}, capture_output=True, text=True)
    assert result.returncode == 0 and " passed" in result.stdout, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.skipif(not CAN_COMPILE, reason="no C compiler or no Python headers")
@pytest.mark.skipif(pure_requested(), reason="the compiled run builds it")
@pytest.mark.timeout(300)
def test_the_compiled_wheel_installs_and_runs_alone(tmp_path: Path) -> None:
    """The platform wheel of `make dist`, built from the sdist, runs compiled in a fresh venv with nothing beside it."""
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path), str(ROOT / "spec")],
        check=True,
        capture_output=True,
    )
    [sdist] = tmp_path.glob("*.tar.gz")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps", "-w", str(tmp_path), str(sdist)],
        check=True,
        capture_output=True,
        env={**os.environ, "HATCH_BUILD_HOOK_ENABLE_MYPYC": "true"},
    )
    [wheel] = tmp_path.glob("*.whl")
    assert not wheel.name.endswith("-none-any.whl"), wheel.name
    venv.create(tmp_path / "venv", with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], check=True)
    script = (
        "import elbus_spec as s\n"
        "from elbus_spec.compiled import compiled_modules\n"
        "c = s.ClientConnection('x')\n"
        "c.receive_data(bytes.fromhex('eb0100') + b'\\x01\\x01')\n"
        "assert c.send_message('y', b'hi')[1].hex() == '01000000520400000079006869'\n"
        "print(','.join(compiled_modules('elbus_spec')))\n"
    )
    result = subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True)
    assert result.stdout.split() == [",".join(_listed("spec"))]
