"""The recorded traces are exactly what the importer makes of the captures shipped beside them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elbus_conformance import format_trace, load_trace
from elbus_conformance._catalog import traces_dir
from elbus_conformance._importer import import_capture, import_directory
from elbus_conformance._model import Expect, Silence
from elbus_conformance._pattern import MsgPack

ROOT = traces_dir()
CAPTURES = sorted((ROOT / "original").glob("*.json"))


def test_every_capture_is_shipped_and_imported() -> None:
    assert len(CAPTURES) == 12
    assert {p.stem for p in CAPTURES} == {p.stem for p in (ROOT / "recorded").glob("*.trace")}


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_committed_trace_is_the_fresh_import(capture: Path) -> None:
    trace = import_capture(json.loads(capture.read_text()))
    committed = (ROOT / "recorded" / f"{capture.stem}.trace").read_text()
    assert format_trace(trace) == committed, "run `elbus-conformance import` and commit the result"
    assert trace.provenance.startswith("recorded from the original elbus broker 0.2.9")


def test_import_directory_writes_one_file_per_capture(tmp_path: Path) -> None:
    written = import_directory(ROOT / "original", tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{p.stem}.trace" for p in CAPTURES)


def test_keepalives_are_dropped_and_nop_only_steps_become_silence() -> None:
    trace = load_trace(ROOT / "recorded" / "pubsub.trace")
    expectations = [unit for step in trace.steps if isinstance(step, Expect) for unit in step.units]
    assert all(unit[0].data != b"\x00" for unit in expectations)  # type: ignore[union-attr]
    capture = json.loads((ROOT / "original" / "pubsub.json").read_text())
    nop_only = sum(1 for s in capture["steps"] if s.get("hex") == "000000000000")
    empty = sum(1 for s in capture["steps"] if s.get("hex") == "" and s.get("dir") == "broker->client")
    assert sum(isinstance(step, Silence) for step in trace.steps) == nop_only + empty


def test_varying_fields_become_templates() -> None:
    rpc = format_trace(load_trace(ROOT / "recorded" / "broker-rpc.trace"))
    assert '{"author": str, "version": str}' in rpc
    assert '"uptime": int' in rpc and '"kind": "local_ipc" | "tcp"' in rpc
    announcements = load_trace(ROOT / "recorded" / "announcements.trace")
    templates = [p for s in announcements.steps if isinstance(s, Expect) for p in s.units[0] if isinstance(p, MsgPack)]
    assert len(templates) == 2
    # 'benchmark.test' echoes bytes that are not MessagePack: they stay literal
    assert "11 05000000 010203616e797468696e67" in rpc


def test_unknown_capture_step_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown capture step"):
        import_capture({"name": "x", "steps": [{"conn": "a", "event": "dances"}]})
