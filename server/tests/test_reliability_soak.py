"""Soak: mixed traffic from many elbus_aio clients through an ``elbusd`` subprocess, clients killed and reconnected at random.

Every client sends acknowledged (QoS processed) messages numbered by a
per-sender sequence to random other clients, with many in flight, plus QoS 0
publications and broadcasts; a few "mortal" clients are killed at random (the
connection is closed under traffic, with acks in flight) and come back under
the same name. The delivery rule checked afterwards, per (sender, target):

- nothing is delivered twice, and what arrives arrives in sequence order, across
  the target's reconnections too;
- nothing is delivered that the sender did not send, nor anything the broker
  refused (ack ``71``);
- every send acknowledged ``01`` to a target that stayed connected all along is
  delivered; one to a mortal target is delivered unless its ack came within
  the kill window (from ``KILL_GRACE`` seconds before that target was killed until
  it was registered again): an ``01`` means the broker queued the frame, and a
  client that dies loses what the broker queued for it;
- sends whose ack never came (the sender was killed) may or may not be delivered;
- a send answered ``77`` (the target's queue was full) is not delivered, and
  the broker dropped that target as a slow consumer at once: like a kill, what
  was acked ``01`` to it from ``KILL_GRACE`` seconds before that moment on may
  be lost. Nobody is ever held: with the default queue bounds and clients that
  read, no target is expected to be dropped, and the run reports how many were.

The broker's resident memory after the run is compared with the one after a
warm-up. 20 clients for 8 s by default, 50 clients for 60 s with ``ELBUS_SOAK=1``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from reliability_helpers import env_flag, report, rss_kib, start_elbusd, stop_process

import elbus_aio
from elbus_spec import ConnectionClosed, Frame, Message, NotDelivered, NotRegistered, QoS

SOAK = env_flag("ELBUS_SOAK")
CLIENTS = 50 if SOAK else 20
MORTAL = 5 if SOAK else 3
DURATION = 60.0 if SOAK else 8.0
WARMUP = 2.0
IN_FLIGHT = 64
KILL_GRACE = 1.0


@dataclass
class Ledger:
    """What was sent, acknowledged and received, by (sender, target); times on the event loop's clock."""

    acked: dict[tuple[str, str], dict[int, float]] = field(default_factory=lambda: defaultdict(dict))  # seq -> ack time
    refused: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))  # 71 or 77
    dropped: dict[str, float] = field(default_factory=dict)  # targets the broker dropped as slow consumers: when
    unknown: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    received: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    downtime: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    other_frames: int = 0

    def on_frame(self, target: str, frame: Frame) -> None:
        if isinstance(frame, Message):
            sender, seq = frame.payload.split(b":")
            self.received[(frame.sender, target)].append(int(seq))
            assert sender.decode() == frame.sender
        else:
            self.other_frames += 1

    def violations(self, mortal: set[str]) -> tuple[list[str], int]:
        """Broken rules (empty if none) and how many 01-acked sends to mortal targets were lost in kill windows."""
        problems, excused = [], 0
        for pair, got in self.received.items():
            if len(set(got)) != len(got):
                problems.append(f"{pair}: duplicates")
            if got != sorted(got):
                problems.append(f"{pair}: out of order")
            if set(got) & self.refused[pair]:
                problems.append(f"{pair}: delivered although refused: {sorted(set(got) & self.refused[pair])[:5]}")
            phantom = set(got) - self.acked[pair].keys() - self.unknown[pair]
            if phantom:
                problems.append(f"{pair}: delivered but never acked 01 nor in doubt: {sorted(phantom)[:5]}")
        for pair, acks in self.acked.items():
            missing = acks.keys() - set(self.received[pair])
            target = pair[1]
            for seq in missing:
                t = acks[seq]
                if target in mortal and any(start - KILL_GRACE <= t <= end for start, end in self.downtime[target]):
                    excused += 1
                elif target in self.dropped and t >= self.dropped[target] - KILL_GRACE:
                    excused += 1
                else:
                    problems.append(f"{pair}: seq {seq} acked 01 at {t:.3f} but never delivered")
        return problems, excused


class Peer:
    """One named client across its incarnations: a sender loop and a receiver callback."""

    def __init__(self, address: str, name: str, names: list[str], ledger: Ledger) -> None:
        self.address = address
        self.name = name
        self.others = [n for n in names if n != name]
        self.ledger = ledger
        self.client: elbus_aio.Client | None = None
        self.seq = 0
        self.sent = 0
        self.slots = asyncio.Semaphore(IN_FLIGHT)

    async def start(self) -> None:
        client = elbus_aio.Client(self.address, self.name, timeout=5)
        client.on_frame = lambda frame: self.ledger.on_frame(self.name, frame)
        await client.connect()
        await client.subscribe("soak/#")
        self.client = client

    async def kill(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.close()

    def _done(self, pair: tuple[str, str], seq: int, fut: asyncio.Future[None]) -> None:
        self.slots.release()
        exc = fut.exception()
        if exc is None:
            self.ledger.acked[pair][seq] = asyncio.get_running_loop().time()
        elif isinstance(exc, NotRegistered | NotDelivered):
            self.ledger.refused[pair].add(seq)
            if isinstance(exc, NotDelivered):  # the target was dropped as a slow consumer, now
                self.ledger.dropped.setdefault(pair[1], asyncio.get_running_loop().time())
        elif isinstance(exc, ConnectionClosed):
            self.ledger.unknown[pair].add(seq)
        else:
            raise AssertionError(f"{pair} seq {seq}: unexpected {exc!r}")

    async def run(self, stop: asyncio.Event, rng: random.Random) -> None:
        while not stop.is_set():
            await self.slots.acquire()
            client = self.client
            if client is None or not client.is_connected:
                self.slots.release()
                await asyncio.sleep(0.01)
                continue
            try:
                if rng.random() < 0.05:
                    client.publish_nowait(f"soak/{self.name}", b"p", qos=QoS.NO)
                    client.broadcast_nowait("soak.*", b"b", qos=QoS.NO)
                target = rng.choice(self.others)
                self.seq += 1
                fut = client.send_nowait(target, f"{self.name}:{self.seq}", qos=QoS.PROCESSED)
            except ConnectionClosed:
                self.slots.release()
                continue
            self.sent += 1
            fut.add_done_callback(lambda f, pair=(self.name, target), seq=self.seq: self._done(pair, seq, f))
            if self.sent % 32 == 0:
                await asyncio.sleep(0)  # let acks and deliveries in


async def killer(peers: list[Peer], ledger: Ledger, stop: asyncio.Event, rng: random.Random) -> int:
    """Kill a random mortal client every 0.3-0.8 s and bring it back after 0.05-0.3 s."""
    kills = 0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(0.3, 0.8))
        peer = rng.choice(peers)
        killed_at = loop.time()
        await peer.kill()
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        await peer.start()
        ledger.downtime[peer.name].append((killed_at, loop.time()))
        kills += 1
    return kills


@pytest.mark.timeout(DURATION + 60)
async def test_soak_acknowledged_sends_are_delivered_exactly_once_in_order(sock_dir: Path) -> None:
    sock = sock_dir / "soak.sock"
    proc = start_elbusd(sock, "-t", "5")
    rng = random.Random(8)
    ledger = Ledger()
    names = [f"soak.{i}" for i in range(CLIENTS)]
    peers = [Peer(str(sock), name, names, ledger) for name in names]
    mortal = peers[:MORTAL]
    try:
        for peer in peers:
            await peer.start()
        stop = asyncio.Event()
        started = time.monotonic()
        senders = [asyncio.create_task(peer.run(stop, random.Random(i))) for i, peer in enumerate(peers)]
        await asyncio.sleep(WARMUP)
        warm = rss_kib(proc.pid)
        kills = asyncio.create_task(killer(mortal, ledger, stop, rng))
        await asyncio.sleep(DURATION - WARMUP)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*senders), 10)
        kill_count = await asyncio.wait_for(kills, 10)
        elapsed = time.monotonic() - started
        for peer in peers:  # the last acks and deliveries: every sender's window drains
            for _ in range(IN_FLIGHT):
                await asyncio.wait_for(peer.slots.acquire(), 10)
        await asyncio.sleep(0.5)
        end = rss_kib(proc.pid)
        assert proc.poll() is None, "the broker died"

        problems, excused = ledger.violations({p.name for p in mortal})
        acked = sum(len(v) for v in ledger.acked.values())
        refused = sum(len(v) for v in ledger.refused.values())
        unknown = sum(len(v) for v in ledger.unknown.values())
        delivered = sum(len(v) for v in ledger.received.values())
        report(f"soak: {CLIENTS} clients ({MORTAL} mortal, {kill_count} kills) for {elapsed:.1f} s: "
               f"{acked:,} sends acked 01 ({acked / elapsed:,.0f}/s), {delivered:,} delivered, {refused} refused 71/77 "
               f"(target down), {unknown} in doubt (sender killed), {excused} acked to a target that was then killed and lost; "
               f"{ledger.other_frames:,} QoS 0 publications/broadcasts; {len(ledger.dropped)} slow consumers dropped; "
               f"broker RSS {warm / 1024:.1f} MiB after warm-up, "
               f"{end / 1024:.1f} MiB at the end; rule violations: {len(problems)}")
        assert not problems, problems[:10]
        assert kill_count >= 3 and acked > 1000
        assert end - warm < max(8 * 1024, warm * 0.25), f"broker memory grew from {warm} KiB to {end} KiB"
    finally:
        for peer in peers:
            await peer.kill()
        stop_process(proc)
