"""The command line, run as a separate process against the trace player and on its own."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from elbus_conformance import TracePlayer, load_traces, traces_dir
from elbus_conformance._cli import main
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
