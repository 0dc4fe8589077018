"""Many idle clients on an ``elbusd`` subprocess: memory per idle client and the time to register them all.

1,000 clients in the normal run, 10,000 with ``ELBUS_LOAD=1``. The broker's
resident memory is read from /proc before, with every client registered, and
after they all left; the file-descriptor soft limit is raised to the hard
limit first (the broker inherits it).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from reliability_helpers import env_flag, raise_fd_limit, raw_register, report, rss_kib, start_elbusd, stop_process

from elbus_spec import QoS, codec

CLIENTS = 10_000 if env_flag("ELBUS_LOAD") else 1_000
CONCURRENT_HANDSHAKES = 256  # a burst larger than the listen backlog would be refused by the kernel, not the broker


async def register(path: str, name: str, gate: asyncio.Semaphore) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with gate:
        return await raw_register(path, name)


async def settle_rss(pid: int, seconds: float = 0.5) -> int:
    await asyncio.sleep(seconds)
    return rss_kib(pid)


async def connect_all(path: str, cycle: int) -> tuple[list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], float]:
    gate = asyncio.Semaphore(CONCURRENT_HANDSHAKES)
    started = time.monotonic()
    pairs = await asyncio.wait_for(asyncio.gather(*(register(path, f"idle.{cycle}.{i}", gate) for i in range(CLIENTS))),
                                   CLIENTS / 50)
    return pairs, time.monotonic() - started


async def everyone_reachable(pairs: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], cycle: int) -> None:
    """One broadcast from the first client reaches every one of them."""
    pairs[0][1].write(codec.encode_broadcast_frame(1, QoS.NO, f"idle.{cycle}.*", b"!"))
    expected = codec.encode_broadcast_delivery(0, f"idle.{cycle}.0", b"!")
    for i, (reader, _) in enumerate(pairs):
        assert await asyncio.wait_for(reader.readexactly(len(expected)), 10) == expected, i


@pytest.mark.timeout(300)
async def test_idle_clients_memory_and_registration_time(sock_dir: Path) -> None:
    """Three cycles of connecting every client and closing them: the figures of the first, and no growth across cycles."""
    hard = raise_fd_limit()
    if hard < CLIENTS + 200:  # each process holds one end of every connection
        pytest.skip(f"the hard file-descriptor limit ({hard}) is too low for {CLIENTS} clients")
    sock = sock_dir / "idle.sock"
    proc = start_elbusd(sock, "-t", "30")  # keep-alives every 30 s: the clients stay idle
    pairs: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        before = await settle_rss(proc.pid)
        loaded, left, times = [], [], []
        for cycle in range(3):
            pairs, elapsed = await connect_all(str(sock), cycle)
            times.append(elapsed)
            loaded.append(await settle_rss(proc.pid))
            await everyone_reachable(pairs, cycle)
            for _, writer in pairs:
                writer.close()
            pairs = []
            left.append(await settle_rss(proc.pid))
        per_client = (loaded[0] - before) * 1024 / CLIENTS
        report(f"idle clients: {CLIENTS} registered in {times[0]:.2f} s ({CLIENTS / times[0]:,.0f}/s, "
               f"{CONCURRENT_HANDSHAKES} handshakes in flight; later cycles {times[1]:.2f} s, {times[2]:.2f} s); "
               f"broker RSS {before / 1024:.1f} MiB -> {loaded[0] / 1024:.1f} MiB = {per_client / 1024:.1f} KiB per idle client; "
               f"after each cycle left {', '.join(f'{x / 1024:.1f}' for x in left)} MiB")
        assert proc.poll() is None, "the broker died"
        assert per_client < 64 * 1024, f"{per_client / 1024:.1f} KiB per idle client"
        # the memory of clients that left is reused: the second and third cycles do not grow the broker.
        # (What RSS falls back to after a cycle depends on what the allocator hands back to the system,
        # which varies from run to run; it is reported, not compared.)
        assert loaded[2] - loaded[0] < (loaded[0] - before) * 0.25 + 1024, (before, loaded, left)
    finally:
        for _, writer in pairs:
            writer.close()
        stop_process(proc)
