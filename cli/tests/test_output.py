"""What the command line prints: tables, mappings, frames, JSON, the progress bar (no broker needed)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime

from elbus_cli.output import FrameRecord, format_decoded, format_mapping, format_number, render_table, to_json
from elbus_cli.payload import Decoded, decode_payload
from elbus_cli.progress import Progress, render_bar


def test_render_table_aligns_text_left_and_numbers_right() -> None:
    table = render_table(
        ("name", "kind", "source", "r_bytes"),
        [["a.long.client", "tcp", "127.0.0.1:5000", 1234567], ["b", "local_ipc", None, 8]],
    )
    assert table.splitlines() == [
        "name           kind       source            r_bytes",
        "-------------  ---------  --------------  ---------",
        "a.long.client  tcp        127.0.0.1:5000  1_234_567",
        "b              local_ipc                          8",
    ]


def test_render_table_without_rows_still_shows_the_columns() -> None:
    assert render_table(("name", "queue"), []).splitlines() == ["name  queue", "----  -----"]


def test_render_table_column_of_mixed_types_is_left_aligned() -> None:
    lines = render_table(("v",), [[1], ["text"]]).splitlines()
    assert lines[2:] == ["1", "text"]


def test_format_number() -> None:
    assert [format_number(v) for v in (0, 1000, -2500000, 1.5, True, None, "x")] == [
        "0",
        "1_000",
        "-2_500_000",
        "1.500",
        "true",
        "",
        "x",
    ]


def test_format_mapping_aligns_values() -> None:
    assert format_mapping({"author": "someone", "version": "0.1.0", "uptime": 3600}) == (
        "author:  someone\nversion: 0.1.0\nuptime:  3_600"
    )
    assert format_mapping({}) == ""


def test_format_decoded() -> None:
    assert format_decoded(decode_payload(b'{"a":1}')) == '{\n  "a": 1\n}'
    assert format_decoded(decode_payload(b"\x81\xa2ok\xc3"), label=True) == 'msgpack: {\n  "ok": true\n}'
    assert format_decoded(decode_payload(b"plain"), label=True) == "text: plain"
    assert format_decoded(decode_payload(b"\xff\x00"), label=True) == "hex: ff00"


def test_format_decoded_cuts_long_hex_short() -> None:
    shown = format_decoded(Decoded("hex", "ab" * 1000))
    assert shown == "ab" * 256 + "... (1000 bytes)"


def test_to_json_one_document_or_one_line() -> None:
    value = {"b": b"\x01", "n": [1, 2]}
    assert json.loads(to_json(value)) == {"b": "01", "n": [1, 2]}
    assert to_json(value, lines=True) == '{"b":"01","n":[1,2]}'


def test_frame_record_text_and_json() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    record = FrameRecord(when, "publication", "sensor.1", "a/b", decode_payload(b'{"t": 21.5}'), realtime=True)
    assert record.as_text() == '03:04:05.678 publication from sensor.1 topic a/b (realtime)\njson: {\n  "t": 21.5\n}'
    assert record.as_dict() == {
        "time": "2026-01-02T03:04:05.678000+00:00",
        "kind": "publication",
        "sender": "sensor.1",
        "topic": "a/b",
        "realtime": True,
        "format": "json",
        "payload": {"t": 21.5},
    }
    call = FrameRecord(when, "rpc.call", "caller", None, decode_payload(b""), method="do.it")
    assert call.as_text() == "03:04:05.678 rpc.call from caller method do.it\ntext: "
    assert call.as_dict()["method"] == "do.it"


def test_render_bar() -> None:
    assert render_bar("rpc.call", 250, 1000, width=10) == "rpc.call [##........]  25% 250/1_000"
    assert render_bar("s", 5, 0, width=4) == "s [####] 100% 5/0"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_progress_draws_on_a_terminal_and_erases_the_line() -> None:
    stream = _Terminal()
    progress = Progress(stream)
    async with progress.stage("send.qos.no", 10) as counter:
        counter.done = 4
        await asyncio.sleep(0.15)
    out = stream.getvalue()
    assert "\rsend.qos.no [" in out
    assert "4/10" in out
    assert out.endswith("\r\x1b[K")


async def test_progress_draws_nothing_elsewhere() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    async with progress.stage("send.qos.no", 10) as counter:
        counter.done = 10
        await asyncio.sleep(0.15)
    assert stream.getvalue() == ""
