"""The broker's busy polling: it polls only while a connection is busy, and an idle broker burns no CPU."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
from reliability_helpers import elbusd_command, start_elbusd, stop_process

import elbus_aio
from elbus_server import Broker
from elbus_spec import QoS


@pytest.mark.parametrize("value", [-1.0, -1e-6])
def test_a_negative_window_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="busy_poll"):
        Broker(busy_poll=value)


async def test_broker_polls_during_dense_traffic_only(sock_dir: Path) -> None:
    async with Broker(busy_poll=0.05) as broker:
        path = await broker.serve_unix(sock_dir / "b.sock")
        async with elbus_aio.Client(path, "a") as a, elbus_aio.Client(path, "b"):
            busy = broker._busy
            assert busy is not None
            await a.send("b", b"x", qos=QoS.PROCESSED)
            await asyncio.sleep(0.3)
            await a.send("b", b"x", qos=QoS.PROCESSED)  # 300 ms after a's last chunk: not busy
            assert not busy.polling
            await a.send("b", b"x", qos=QoS.PROCESSED)  # right behind it: busy
            assert busy.polling
            await asyncio.sleep(0.1)
            assert not busy.polling
        async with Broker(busy_poll=0) as off:
            path = await off.serve_unix(sock_dir / "off.sock")
            async with elbus_aio.Client(path, "a") as a, elbus_aio.Client(path, "b"):
                for _ in range(3):
                    await a.send("b", b"x", qos=QoS.PROCESSED)
                assert off._busy is None


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _cpu_during(pid: int, seconds: float, traffic: object = None) -> float:
    before = _cpu_seconds(pid)
    if traffic is None:
        await asyncio.sleep(seconds)
    else:
        await traffic  # type: ignore[misc]
    return _cpu_seconds(pid) - before


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
async def test_elbusd_spends_cpu_polling_only_while_traffic_is_dense(sock_dir: Path) -> None:
    """With a 20 ms window: messages 10 ms apart keep it polling; 300 ms apart, or pings only, let it sleep."""
    sock = sock_dir / "p.sock"
    proc = await asyncio.to_thread(start_elbusd, sock, "--busy-poll", "20000")
    try:
        async with elbus_aio.Client(str(sock), "a") as a, elbus_aio.Client(str(sock), "b"):

            async def every(gap: float, seconds: float) -> None:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    await a.send("b", b"x", qos=QoS.PROCESSED)
                    await asyncio.sleep(gap)

            dense = await _cpu_during(proc.pid, 1.0, every(0.01, 1.0))
            await asyncio.sleep(0.3)  # the window after the last message
            idle = await _cpu_during(proc.pid, 1.0)
            sparse = await _cpu_during(proc.pid, 1.8, every(0.3, 1.8))
        assert dense >= 0.5, f"dense traffic: {dense:.2f} s of CPU in 1 s, expected the broker to poll"
        assert idle <= 0.1, f"idle: {idle:.2f} s of CPU in 1 s"
        assert sparse <= 0.15, f"sparse traffic: {sparse:.2f} s of CPU in 1.8 s"
    finally:
        stop_process(proc)
    bad = [*elbusd_command(), "-B", str(sock_dir / "x.sock"), "--busy-poll", "-5"]
    off = subprocess.run(bad, capture_output=True, timeout=10)
    assert off.returncode == 2 and b"--busy-poll: must be 0 or more" in off.stderr
