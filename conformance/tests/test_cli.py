"""The command line, run as a separate process against the trace player and on its own."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from elbus_conformance import TracePlayer, load_traces, traces_dir
from elbus_conformance._catalog import source_traces_dir
from elbus_conformance._cli import build_parser, main
from elbus_conformance._coverage import coverage_table


async def _cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from elbus_conformance._cli import main; sys.exit(main())",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, out.decode()


async def test_broker_command_passes_against_a_faithful_broker(trace_player: TracePlayer) -> None:
    names = ["handshake-ok", "message-qos", "broker-rpc"]
    playing = asyncio.create_task(trace_player.play(load_traces(names)))
    args = [a for name in names for a in ("--trace", name)]
    status, out = await _cli("broker", "--target", trace_player.address, "--timeout", "1", *args)
    assert all(r.passed for r in await playing)
    assert status == 0, out
    assert "3/3 traces passed" in out and "message-qos" in out


async def test_port_alone_is_the_loopback_port() -> None:
    player = TracePlayer()
    address = await player.start(host="127.0.0.1", port=0)
    try:
        playing = asyncio.create_task(player.play(load_traces(["handshake-ok"])))
        status, out = await _cli("broker", "--target", ":" + address.rpartition(":")[2], "--trace", "handshake-ok")
        assert all(r.passed for r in await playing)
    finally:
        await player.close()
    assert status == 0 and "1/1 traces passed" in out, out


def test_a_bad_address_is_a_usage_error(capsys) -> None:  # type: ignore[no-untyped-def]
    for command, option in (("broker", "--target"), ("play", "--listen")):
        with pytest.raises(SystemExit) as exit_info:
            main([command, option, "nowhere"])
        assert exit_info.value.code == 2 and "not a UNIX socket path nor host:port" in capsys.readouterr().err


async def test_broker_command_fails_and_explains(trace_player: TracePlayer) -> None:
    # the player plays handshake-bad-greeting where the runner expects handshake-ok
    playing = asyncio.create_task(trace_player.play(load_traces(["handshake-bad-greeting"])))
    status, out = await _cli("broker", "--target", trace_player.address, "--trace", "handshake-ok", "--step-timeout", "1")
    await playing
    assert status == 1, out
    assert "FAIL handshake-ok" in out and "0/1 traces passed" in out


async def test_broker_command_reports_an_absent_broker(tmp_path: Path) -> None:
    status, out = await _cli("broker", "--target", str(tmp_path / "none.sock"), "--trace", "handshake-ok")
    assert status == 1 and "cannot connect" in out


def test_unknown_trace_is_a_usage_error(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["broker", "--target", "/x.sock", "--trace", "no-such-trace"]) == 2
    assert "no trace named no-such-trace" in capsys.readouterr().err


def test_list_and_render(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "pubsub" in listing and "recorded from the original elbus broker 0.2.9" in listing
    assert "client mode: ran (40 raw steps)" in listing and "client mode: broker-only: a greeting no client writes" in listing
    assert main(["render", "--out", str(tmp_path)]) == 0
    pages = sorted(p.name for p in tmp_path.glob("*.md"))
    assert "index.md" in pages and "pubsub.md" in pages and "handshake.md" in pages
    handshake = (tmp_path / "handshake.md").read_text()
    assert "## handshake-ok" in handshake and "`eb 0100`" in handshake
    assert "- client mode: broker-only: a greeting no client writes" in handshake


def test_import_regenerates_the_recorded_traces(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["import", "--out", str(tmp_path)]) == 0
    for path in tmp_path.glob("*.trace"):
        assert path.read_text() == (traces_dir() / "recorded" / path.name).read_text()


async def test_client_command_runs_a_library_against_the_player() -> None:
    traces = ["--trace", "publish-qos", "--trace", "protocol-errors", "--trace", "register-invalid-utf8"]
    status, out = await _cli("client", "--library", "sync", *traces)
    assert status == 0, out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert rows["publish-qos"].endswith("pass    ran")
    assert rows["protocol-errors"].endswith("pass    ran (40 raw steps)")
    assert rows["register-invalid-utf8"].split(None, 4)[4] == (
        "broker-only: a name no client registers (registration: a string is not valid UTF-8)"
    )
    assert "2/2 traces passed" in out and "1 broker-only" in out


def test_coverage_prints_the_table_kept_in_the_readme(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["coverage"]) == 0
    table = capsys.readouterr().out
    assert table == coverage_table(load_traces())
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert table in readme, "README.md: paste the output of `elbus-conformance coverage`"


# --- the command as a tool: help, pipes, missing libraries, where it writes ----------------------

_MAIN = "import sys; from elbus_conformance._cli import main; sys.exit(main())"
# The same, in an interpreter where the named top-level package cannot be imported.
_WITHOUT = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == sys.argv[1]:
            raise ModuleNotFoundError(f"No module named {sys.argv[1]!r}", name=sys.argv[1])
        return None

sys.meta_path.insert(0, Missing())
from elbus_conformance._cli import main
sys.exit(main(sys.argv[2:]))
"""


def _run(*args: str, code: str = _MAIN, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, **options)


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_help_is_plain_text() -> None:
    texts = [parser.format_help() for parser in _parsers(build_parser())]
    assert len(texts) == 9  # the command and its eight sub-commands
    assert [text for text in texts if "`" in text] == []


def test_list_into_a_closed_pipe_ends_quietly() -> None:
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before a line is written, as `| head` gone early
    try:
        run = subprocess.run([sys.executable, "-c", _MAIN, "list"], stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(writer)
    assert (run.returncode, run.stderr) == (1, "")


def test_list_into_head_ends_quietly() -> None:
    run = subprocess.run(
        f"{shlex.quote(sys.executable)} -c {shlex.quote(_MAIN)} list | head -n 1",
        shell=True, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0 and len(run.stdout.splitlines()) == 1
    assert run.stderr == ""


@pytest.mark.parametrize(("library", "module"), [("aio", "elbus_aio"), ("sync", "elbus_client")])
def test_a_missing_client_library_is_one_line(library: str, module: str) -> None:
    run = _run(module, "client", "--library", library, "--trace", "publish-qos", code=_WITHOUT)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [
        f"elbus-conformance: client mode with --library {library} needs {module}, which cannot be imported: "
        f"No module named {module!r}"
    ]


def test_the_checkout_traces_are_the_source_ones() -> None:
    assert source_traces_dir() == traces_dir() == Path(__file__).resolve().parents[1] / "traces"


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The package laid out as its wheel installs it (the traces inside the package), in a site directory of its own."""
    site = tmp_path / "site"
    package = Path(__file__).resolve().parents[1] / "src" / "elbus_conformance"
    shutil.copytree(package, site / "elbus_conformance", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(traces_dir(), site / "elbus_conformance" / "traces")
    return site


def _tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("command", ["author", "import"])
def test_an_installed_package_is_never_rewritten(installed: Path, tmp_path: Path, command: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed), "PYTHONDONTWRITEBYTECODE": "1"}
    check = _run(code="import elbus_conformance; print(elbus_conformance.__file__)", env=env)
    assert check.stdout.startswith(str(installed)), check.stderr  # our copy, not the checkout's
    before = _tree(installed)
    refused = _run(command, env=env)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("elbus-conformance: --out is required: the traces of an installed package")
    assert _tree(installed) == before
    written = _run(command, "--out", str(tmp_path / "out"), env=env)
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.trace")) == sorted(
        p.name for p in (traces_dir() / ("authored" if command == "author" else "recorded")).glob("*.trace")
    )
    assert _tree(installed) == before
