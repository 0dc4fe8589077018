"""``elbus top``: the rates it computes, its JSON snapshot, and the live view in a real terminal (a pty).

The broker is real (a thread of its own, see `BrokerThread`); traffic comes
from asyncio clients in the test's loop, so the counters the view shows can
be checked against what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import html
import io
import json
import os
import pty
import re
import shutil
import signal
import struct
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cli_broker import BrokerThread
from rich.console import Console
from test_commands import _ENV, CLI_DEADLINE, _command, elbus, unique

import elbus_aio
import elbus_rpc
from elbus_cli import DEFAULT_ADDRESS
from elbus_cli.top import ClientCounters, Sample, SampleError, rates, sample_from_result
from elbus_cli.top_live import Sampler
from elbus_cli.top_view import render, save_screenshot
from elbus_server import Broker

# --- rates, without a broker --------------------------------------------------------------------------


def counters(name: str, r: int, w: int, *, queue: int = 0, drops: int | None = None) -> ClientCounters:
    return ClientCounters(name, "tcp", r, r * 10, w, w * 10, queue, drops)


def test_rates_are_deltas_over_the_interval_busiest_first() -> None:
    before = Sample(10.0, {"a": counters("a", 100, 0), "b": counters("b", 0, 50)})
    after = Sample(12.0, {"a": counters("a", 300, 0), "b": counters("b", 0, 850, queue=7, drops=2)})
    rows = rates(before, after)
    assert [row.name for row in rows] == ["b", "a"]
    assert (rows[0].out_frames_s, rows[0].out_bytes_s, rows[0].queue, rows[0].drops) == (400.0, 4000.0, 7, 2)
    assert (rows[1].in_frames_s, rows[1].in_bytes_s, rows[1].out_frames_s) == (100.0, 1000.0, 0.0)


def test_a_new_or_reconnected_client_counts_from_zero() -> None:
    before = Sample(0.0, {"again": counters("again", 500, 500)})
    after = Sample(1.0, {"again": counters("again", 3, 4), "new": counters("new", 5, 6)})
    by_name = {row.name: row for row in rates(before, after)}
    assert (by_name["again"].in_frames_s, by_name["again"].out_frames_s) == (3.0, 4.0)
    assert (by_name["new"].in_frames_s, by_name["new"].out_frames_s) == (5.0, 6.0)


def test_the_first_sample_alone_has_zero_rates() -> None:
    only = Sample(5.0, {"a": counters("a", 9, 9)})
    assert rates(only, only)[0].frames_s == 0.0


def test_a_result_is_read_with_the_broker_clock_when_it_gives_one() -> None:
    entry = {"name": "x", "kind": "tcp", "r_frames": 1, "r_bytes": 2, "w_frames": 3, "w_bytes": 4, "queue": 0}
    listed = sample_from_result({"clients": [entry, {**entry, "name": "me"}]}, 42.0, skip=["me"])
    assert listed.at == 42.0 and list(listed.clients) == ["x"] and listed.clients["x"].drops is None
    stats = sample_from_result({"uptime": 7.5, "clients": [{**entry, "drops": 3}]}, 42.0)
    assert stats.at == 7.5 and stats.clients["x"].drops == 3


@pytest.mark.parametrize(
    "result",
    [None, {"clients": None}, {"clients": [{"kind": "tcp"}]}, {"clients": [{"name": "x", "r_frames": -1}]}],
)
def test_a_result_of_another_shape_is_a_sample_error(result: object) -> None:
    with pytest.raises(SampleError):
        sample_from_result(result, 0.0)


def test_the_screenshot_is_an_svg_of_the_rows(tmp_path: Path) -> None:
    before = Sample(0.0, {"svc.sensor": counters("svc.sensor", 0, 0)})
    after = Sample(1.0, {"svc.sensor": counters("svc.sensor", 1234, 5, queue=3, drops=1)})
    path = tmp_path / "top.svg"
    save_screenshot(str(path), "/tmp/elbus/elbus.sock", rates(before, after), 1.0)
    svg = path.read_text()
    assert svg.startswith("<svg") and "svc.sensor" in svg and "1,234" in svg


def test_the_view_keeps_to_the_terminal_height_and_says_how_many_rows_are_below() -> None:
    before = Sample(0.0, {})
    after = Sample(1.0, {f"c{i:02}": counters(f"c{i:02}", 100 - i, 0) for i in range(50)})
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(render("/tmp/elbus/elbus.sock", rates(before, after), 1.0, height=12))
    text = console.export_text()
    assert "c00" in text and "c03" in text and "c04" not in text  # the busiest four fit in 12 lines
    assert "50 clients, 46 below" in text and len(text.splitlines()) <= 12


# --- against a running broker ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def traffic(broker: BrokerThread) -> AsyncIterator[tuple[str, str]]:
    """A sender streaming unacknowledged messages to a receiver that reads them; yields their names."""
    sender_name, receiver_name = unique("top.sender"), unique("top.receiver")
    async with elbus_aio.Client(broker.path, receiver_name) as receiver, elbus_aio.Client(broker.path, sender_name) as sender:

        async def drain() -> None:
            async for _ in receiver:
                pass

        async def stream() -> None:
            while True:
                await sender.send(receiver_name, b"x" * 100, qos=0)
                await asyncio.sleep(0.001)

        tasks = [asyncio.create_task(drain()), asyncio.create_task(stream())]
        try:
            yield sender_name, receiver_name
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_once_json_rates_match_what_was_sent(broker: BrokerThread) -> None:
    async with traffic(broker) as (sender, receiver):
        await asyncio.sleep(0.2)
        result = await elbus(broker.path, "--json", "top", "--once", "--interval", "0.5")
    assert result.code == 0, result.err
    shown = json.loads(result.out)
    rows = {row["name"]: row for row in shown["clients"]}
    assert shown["interval"] > 0.4 and not any(name.startswith("elbus-cli.") for name in rows)
    sent, got = rows[sender], rows[receiver]
    assert sent["in_frames_s"] > 10
    # Both samples are taken by the broker at one instant each: every message the sender's counters
    # gained in between, the receiver's gained too, with the same body bytes.
    assert got["out_frames_s"] == pytest.approx(sent["in_frames_s"])
    assert got["out_bytes_s"] == pytest.approx(sent["in_bytes_s"])
    assert sent["in_bytes_s"] == pytest.approx(sent["in_frames_s"] * (len(receiver) + 1 + 100))
    assert shown["clients"][0]["name"] in (sender, receiver), "the busiest clients come first"


async def test_once_prints_a_table(broker: BrokerThread) -> None:
    async with traffic(broker) as (sender, _):
        result = await elbus(broker.path, "top", "--once", "--interval", "0.2")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("rates over 0.2") and lines[1].split()[:3] == ["name", "kind", "in_frames/s"]
    assert any(line.split()[0] == sender and int(line.split()[2]) > 0 for line in lines[3:])


async def test_top_against_no_broker_is_a_connection_failure(sock_dir: str) -> None:
    result = await elbus(os.path.join(sock_dir, "nobody.sock"), "top", "--once")
    assert result.code == 3 and "cannot connect" in result.err


async def test_against_a_broker_without_client_stats_top_falls_back_to_client_list(tmp_path: Path) -> None:
    """As the original broker: ``.broker`` knows ``client.list`` only (primaries, no drops); rates use the local clock."""
    async with Broker(core_rpc=False) as broker:
        path = await broker.serve_unix(tmp_path / "old.sock")
        core = await broker.register(".broker")
        service = elbus_rpc.Rpc(core)
        calls = 0

        @service.method("client.list")
        def client_list(params: object, event: object) -> dict[str, object]:
            nonlocal calls
            calls += 1
            entry = {"name": "old.sensor", "kind": "local_ipc", "source": None, "port": path, "r_frames": 100 * calls,
                     "r_bytes": 1000 * calls, "w_frames": 0, "w_bytes": 0, "queue": 3, "instances": 1}
            return {"clients": [entry]}

        result = await elbus(path, "--json", "top", "--once", "--interval", "0.5")
    assert result.code == 0, result.err
    [row] = json.loads(result.out)["clients"]
    assert row["name"] == "old.sensor" and row["drops"] is None and row["queue"] == 3
    assert 100 < row["in_frames_s"] <= 200 and row["in_bytes_s"] == pytest.approx(10 * row["in_frames_s"])


def _read_terminal(fd: int, until: bytes, seen: bytearray) -> None:
    """Read the terminal into ``seen`` until ``until`` shows up or the program's side closes."""
    with contextlib.suppress(OSError):  # EIO once the program's side is closed and drained
        while chunk := os.read(fd, 65536):
            seen += chunk
            if until and until in seen:
                return


@contextlib.asynccontextmanager
async def in_terminal(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """``elbus ARGS`` on a 40x120 pseudo-terminal (stdin, stdout and stderr); yields it and the controller side."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**_ENV, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    proc = await asyncio.create_subprocess_exec(
        *_command(*args), stdin=terminal, stdout=terminal, stderr=terminal, env=env, start_new_session=True
    )
    os.close(terminal)
    try:
        yield proc, controller
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(controller)


async def _shows(controller: int, text: str) -> bytes:
    seen = bytearray()
    await asyncio.wait_for(asyncio.to_thread(_read_terminal, controller, text.encode(), seen), CLI_DEADLINE)
    assert text.encode() in seen, bytes(seen[-2000:])
    return bytes(seen)


async def test_live_view_in_a_terminal_refreshes_and_quits_on_q(broker: BrokerThread) -> None:
    async with traffic(broker) as (sender, receiver), in_terminal(broker.path, "top") as (proc, controller):
        drawn = await _shows(controller, "first sample")
        assert b"\x1b[?1049h" in drawn, "the view takes the alternate screen"
        drawn = await _shows(controller, "rates over 1.0")  # the second drawing, a second later
        drawn += await _shows(controller, "q quit")  # the end of that drawing
        assert sender.encode() in drawn or receiver.encode() in drawn
        os.write(controller, b"q")
        rest = bytearray()
        reading = asyncio.create_task(asyncio.to_thread(_read_terminal, controller, b"", rest))
        code = await asyncio.wait_for(proc.wait(), CLI_DEADLINE)
        await asyncio.wait_for(reading, CLI_DEADLINE)
    assert code == 0
    assert b"\x1b[?1049l" in rest, "the terminal gets its screen back"
    assert b"Traceback" not in rest


async def test_live_view_stops_cleanly_on_ctrl_c(broker: BrokerThread) -> None:
    async with in_terminal(broker.path, "top", "--interval", "0.2") as (proc, controller):
        await _shows(controller, "rates over")
        os.killpg(proc.pid, signal.SIGINT)  # as the terminal sends it: to the foreground process group
        rest = bytearray()
        reading = asyncio.create_task(asyncio.to_thread(_read_terminal, controller, b"", rest))
        code = await asyncio.wait_for(proc.wait(), CLI_DEADLINE)
        await asyncio.wait_for(reading, CLI_DEADLINE)
    assert code == 130
    assert b"\x1b[?1049l" in rest and b"Traceback" not in rest


# --- the documentation's picture ------------------------------------------------------------------

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "assets" / "elbus-top.svg"


def svg_text(svg: str) -> str:
    """The text an SVG written by rich shows, its pieces joined."""
    return html.unescape("".join(re.findall(r">([^<]*)<", svg))).replace("\xa0", " ")


@contextlib.asynccontextmanager
async def busy_bus(path: str) -> AsyncIterator[list[str]]:
    """A sensor publishing to two subscribers, and an RPC client calling a service; yields their names."""
    names = ["sensors.t1", "dashboard", "logger", "svc.calc", "app.ui"]
    clients = [await elbus_aio.connect(path, name) for name in names]
    sensor, dashboard, logger, service, app = clients
    for subscriber in (dashboard, logger):
        await subscriber.subscribe("sensors/#")
    server = elbus_rpc.Rpc(service)
    server.method("add")(lambda params, event: params["a"] + params["b"])
    caller = elbus_rpc.Rpc(app)

    async def drain(client: elbus_aio.Client) -> None:
        async for _ in client:
            pass

    async def publish() -> None:
        while True:
            await sensor.publish("sensors/t1", b'{"t": 21.5, "unit": "C"}', qos=0)
            await asyncio.sleep(0.002)

    async def call() -> None:
        while True:
            await caller.call("svc.calc", "add", {"a": 2, "b": 3})
            await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(work) for work in (drain(dashboard), drain(logger), publish(), call())]
    try:
        yield names
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.close()


async def test_the_documented_screenshot_is_the_view_of_a_busy_broker(sock_dir: str, tmp_path: Path) -> None:
    """The view of a real broker at work, rendered as the docs show it; ELBUS_UPDATE_SCREENSHOT=1 writes it there."""
    running = BrokerThread(sock_dir, "screenshot.sock").start()
    try:
        async with busy_bus(running.path) as names, elbus_aio.Client(running.path, "elbus-cli.host.4242") as me:
            sampler = Sampler(elbus_rpc.Rpc(me), me.name)
            await asyncio.sleep(0.5)
            first = await sampler.sample()
            await asyncio.sleep(1.0)
            second = await sampler.sample()
    finally:
        await asyncio.to_thread(running.stop)
    fresh = tmp_path / "elbus-top.svg"
    save_screenshot(str(fresh), DEFAULT_ADDRESS, rates(first, second), second.at - first.at)
    if os.environ.get("ELBUS_UPDATE_SCREENSHOT"):
        shutil.copyfile(fresh, SCREENSHOT)
    busiest = {row.name: row for row in rates(first, second)}
    assert busiest["app.ui"].in_frames_s > 10 and busiest["dashboard"].out_frames_s > 100, "the traffic stopped"
    shown, documented = svg_text(fresh.read_text()), svg_text(SCREENSHOT.read_text())
    assert all(name in shown for name in names) and "elbus-cli.host.4242" not in shown
    for text in ("elbus top", "in f/s", "in B/s", "out f/s", "out B/s", "queue", "drops", "q quit", "total"):
        assert text in shown and text in documented, f"{text!r}: run this test with ELBUS_UPDATE_SCREENSHOT=1"
