"""The authored traces are what their builders make, say where they come from, and cover the protocol's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from elbus_conformance import format_trace, load_trace, traces_dir
from elbus_conformance._authored import authored_traces, write_authored
from elbus_conformance._authoring import AUTHORED, TraceBuilder
from elbus_conformance._model import Do, Expect, Send

AUTHORED_DIR = traces_dir() / "authored"
TRACES = authored_traces()


@pytest.mark.parametrize("trace", TRACES, ids=lambda t: t.name)
def test_committed_file_is_the_fresh_build(trace) -> None:  # type: ignore[no-untyped-def]
    path = AUTHORED_DIR / f"{trace.name}.trace"
    assert path.read_text() == format_trace(trace), "run `elbus-conformance author` and commit the result"
    assert load_trace(path) == trace
    assert trace.provenance == AUTHORED


def test_no_stray_files_and_unique_client_names(tmp_path: Path) -> None:
    assert sorted(p.name for p in AUTHORED_DIR.glob("*.trace")) == sorted(p.name for p in write_authored(tmp_path))
    prefixes = [{s.args[0].split(".")[1] for s in t.steps if isinstance(s, Do) and s.verb == "connect"} for t in TRACES]
    flat = [p for group in prefixes for p in group]
    assert len(flat) == len(set(flat)), "two authored traces share a client-name prefix"


def test_builder_counts_op_ids_and_records_failing_acks() -> None:
    t = TraceBuilder("b", "", "demo")
    a = t.connect("a", "t.bd.a")
    assert a.message("t.bd.nobody", "x") == 1
    a.ack(1, 0x71)
    assert a.publish("t", "y", qos=0) == 2
    a.close()
    trace = t.build()
    actions = [s for s in trace.steps if isinstance(s, Do)]
    assert [(s.verb, s.args) for s in actions] == [
        ("connect", ("t.bd.a",)),
        ("send", ("t.bd.nobody", "x", "--qos", "1", "--result", "71")),
        ("publish", ("t", "y", "--qos", "0")),
        ("close", ()),
    ]
    frames = [s for s in trace.steps if isinstance(s, Send)]
    assert frames[-1].data == bytes.fromhex("02000000 01 03000000 74 00 79")
    assert trace.client_mode


def test_raw_bytes_drop_the_client_actions() -> None:
    t = TraceBuilder("r", "", "demo")
    a = t.connect("a", "t.bd.r")
    a.raw(b"\x00" * 9)
    a.close()
    trace = t.build()
    assert not trace.client_mode and not any(isinstance(s, Do) for s in trace.steps)


def test_templates_are_used_where_values_vary() -> None:
    text = (AUTHORED_DIR / "broker-rpc-params.trace").read_text()
    assert '"uptime": int' in text and "len" in text
    expectations = [s for t in TRACES for s in t.steps if isinstance(s, Expect)]
    assert len(expectations) > 200
