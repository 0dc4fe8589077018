"""Broker restart under traffic, and how long ``elbusd`` takes to shut down on SIGTERM under load.

elbus_aio clients with ``reconnect=True`` keep sending through a SIGTERM and a
new ``elbusd`` on the same socket: every send returns (acknowledged ``01``) or
raises (`ConnectionClosed` during the outage, `NotRegistered` while the
target is not back yet), none hangs; acknowledged sends are delivered; after
the restart the clients are registered again and their subscriptions work
without being renewed by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

from reliability_helpers import raw_register, report, start_elbusd, stop_process, wait_for

import elbus_aio
from elbus_spec import ConnectionClosed, NotRegistered, QoS, codec

SENDERS = 4


def sigterm_and_time(proc: subprocess.Popen[str]) -> float:
    """Seconds from SIGTERM until the process exited (it must exit 0)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    return time.monotonic() - started


async def test_clients_resume_after_a_restart_and_every_send_is_settled(sock_dir: Path) -> None:
    sock = sock_dir / "restart.sock"
    address = str(sock)
    proc = start_elbusd(sock, "-t", "1")
    received: dict[str, list[bytes]] = defaultdict(list)
    publications: list[bytes] = []
    outcomes: dict[str, int] = defaultdict(int)
    acked: list[bytes] = []
    clients: list[elbus_aio.Client] = []
    stop = asyncio.Event()

    def open_client(name: str) -> elbus_aio.Client:
        client = elbus_aio.Client(address, name, timeout=1, ping_interval=0.2, reconnect=True, reconnect_delay=0.05)
        clients.append(client)
        return client

    async def sender(client: elbus_aio.Client) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            payload = f"{client.name}:{n}".encode()
            try:
                await asyncio.wait_for(client.send("sink", payload), 5)  # a hang fails the test here
            except ConnectionClosed:
                outcomes["connection closed"] += 1
                await asyncio.sleep(0.01)
            except NotRegistered:
                outcomes["not registered"] += 1
                await asyncio.sleep(0.01)
            else:
                outcomes["acked"] += 1
                acked.append(payload)
            if n % 20 == 0:
                try:
                    await client.publish("restart/news", payload, qos=QoS.NO)
                except ConnectionClosed:
                    pass

    try:
        sink = open_client("sink")
        sink.on_frame = lambda f: (publications if f.topic else received["sink"]).append(f.payload)
        await sink.connect()
        await sink.subscribe("restart/#")
        senders = [open_client(f"sender.{i}") for i in range(SENDERS)]
        for c in senders:
            await c.connect()
        tasks = [asyncio.create_task(sender(c)) for c in senders]
        await asyncio.sleep(0.5)
        before_restart = outcomes["acked"]

        shutdown = await asyncio.to_thread(sigterm_and_time, proc)
        await wait_for(lambda: not any(c.is_connected for c in clients), 3, "every client to see the broker gone")
        proc = await asyncio.to_thread(start_elbusd, sock, "-t", "1")
        restarted_at = time.monotonic()
        await wait_for(lambda: all(c.is_connected for c in clients), 5, "every client to reconnect")
        reconnect = time.monotonic() - restarted_at
        acked_at_reconnect = outcomes["acked"]
        await wait_for(lambda: outcomes["acked"] > acked_at_reconnect + 100 or any(t.done() for t in tasks), 5,
                       "sends to be acked again")
        for t in tasks:
            if t.done():
                t.result()  # a send that hung (or failed otherwise) raises here
        publications.clear()
        await wait_for(lambda: len(publications) >= SENDERS, 5, "publications through the renewed subscription")
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await asyncio.sleep(0.2)

        report(f"restart under traffic: elbusd SIGTERM shutdown {shutdown * 1000:.0f} ms with {len(clients)} busy clients; "
               f"all reconnected {reconnect * 1000:.0f} ms after the new broker listened; sends: {dict(outcomes)} "
               f"({before_restart} acked before the restart)")
        assert before_restart > 0 and outcomes["connection closed"] > 0, outcomes
        assert shutdown < 1.0, f"SIGTERM shutdown took {shutdown:.2f} s"
        delivered = set(received["sink"])
        assert len(delivered) == len(received["sink"]), "a send was delivered twice"
        missing = [p for p in acked if p not in delivered]
        assert not missing, f"{len(missing)} acknowledged sends were not delivered, e.g. {missing[:5]}"
    finally:
        stop.set()
        for c in clients:
            await c.close()
        stop_process(proc)


async def drain(reader: asyncio.StreamReader) -> int:
    """Read and discard until the broker closes; the bytes read."""
    total = 0
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(1 << 16):
            total += len(data)
    return total


async def flood(writer: asyncio.StreamWriter, chunk: bytes, pause: float) -> int:
    """Write ``chunk`` every ``pause`` seconds (or slower, as the broker takes it) until it closes; the bytes written."""
    total = 0
    with contextlib.suppress(ConnectionError):
        while not writer.is_closing():
            writer.write(chunk)
            await writer.drain()
            total += len(chunk)
            await asyncio.sleep(pause)
    return total


async def test_sigterm_under_load_shuts_down_within_a_second(sock_dir: Path) -> None:
    """200 clients, 100 sending the other 100 (which keep up) a steady stream of QoS 0 messages, when SIGTERM arrives.

    The readers keep up: how long the broker waits for readers that do not is
    the subject of the stalled-reader test below.
    """
    sock = sock_dir / "load.sock"
    proc = start_elbusd(sock)
    pairs = [await raw_register(str(sock), f"load.{i}") for i in range(200)]
    try:
        readers = [asyncio.create_task(drain(r)) for r, _ in pairs[:100]]
        chunks = [b"".join(codec.encode_message_frame(0, QoS.NO, f"load.{(i + j) % 100}", b"x" * 100) for j in range(10))
                  for i in range(100)]
        flooders = [asyncio.create_task(flood(w, chunk, 0.02)) for chunk, (_, w) in zip(chunks, pairs[100:], strict=True)]
        await asyncio.sleep(0.5)
        shutdown = await asyncio.to_thread(sigterm_and_time, proc)
        received = sum(await asyncio.wait_for(asyncio.gather(*readers), 5))
        sent = sum(await asyncio.wait_for(asyncio.gather(*flooders), 5))
        report(f"SIGTERM under load (100 clients streaming to 100 readers: {sent / 1e6:.1f} MB sent, {received / 1e6:.1f} MB "
               f"delivered in {0.5 + shutdown:.2f} s): shutdown {shutdown * 1000:.0f} ms")
        assert received > 0
        assert shutdown < 1.0, f"SIGTERM shutdown took {shutdown:.2f} s"
    finally:
        for _, writer in pairs:
            writer.close()
        stop_process(proc)


async def test_sigterm_with_a_stalled_reader_shuts_down_within_a_second(sock_dir: Path) -> None:
    """A client that stopped reading, with frames queued for it, when SIGTERM arrives: shutdown must not wait for it."""
    sock = sock_dir / "stall.sock"
    proc = start_elbusd(sock, "-t", "2")  # shutdown waits this timeout (5 s by default) for the stalled reader
    pairs = [await raw_register(str(sock), name) for name in ("stalled", "flooder")]
    try:
        pairs[1][1].write(codec.encode_message_frame(0, QoS.NO, "stalled", b"x" * 1000) * 5000)  # 5 MB nobody reads
        await asyncio.sleep(0.5)
        shutdown = await asyncio.to_thread(sigterm_and_time, proc)
        report(f"SIGTERM with a stalled reader: shutdown {shutdown * 1000:.0f} ms")
        assert shutdown < 1.0, f"SIGTERM shutdown took {shutdown:.2f} s"
    finally:
        for _, writer in pairs:
            writer.close()
        stop_process(proc)
