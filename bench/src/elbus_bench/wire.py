"""The wire-level load generator: pre-encoded frames over raw sockets, so the broker is the bottleneck.

Frames are encoded once with the generated codec, outside the timed loop, and
written in chunks of many frames; the receivers count broker frames by their
length fields (`FrameCounter`, sans-IO), with a C-speed path for runs of
equal-size frames. Senders keep at most ``window`` frames in flight (sent but
not yet counted at the receiving end) so that no broker queue overflows: every
figure is for frames actually delivered, and every stage checks that the
counts are exact.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from elbus_spec import codec

from .measure import FANOUT_SUBSCRIBERS, Measurement, StageError, Tick

__all__ = ["FrameCounter", "WireClient", "connect", "run_stage", "idle_memory", "publish_cost"]

_SERVER_HEADER = codec.SERVER_HEADER
_ACK, _NOP, _MESSAGE, _PUBLICATION = 0xFE, 0x00, 0x12, 0x01
_RPC_REPLY = 0x11
DEFAULT_WINDOW = 4096  # half the broker's default per-client queue
DEFAULT_CHUNK = 256  # frames per write


class FrameCounter:
    """Counts the broker → client frames of a byte stream by their length fields (sans-IO).

    ``reply_offset`` (from the frame start) is where an RPC reply's type byte sits
    in MESSAGE deliveries from a known sender; anything else there counts as an
    RPC error. Acks with a code other than OK count as ack errors.
    """

    def __init__(self, reply_offset: int | None = None) -> None:
        self.reply_offset = reply_offset
        self.messages = self.publications = self.others = self.acks = 0
        self.ack_errors = self.rpc_errors = 0
        self._tail = b""

    def feed(self, data: bytes) -> None:
        buf = self._tail + data if self._tail else data
        end, pos = len(buf), 0
        if end >= 12:
            pos = self._count_run(buf, end)
        unpack = _SERVER_HEADER.unpack_from
        while end - pos >= 6:
            kind, length, flag = unpack(buf, pos)
            if kind == _ACK or kind == _NOP:
                if kind == _ACK:
                    self.acks += 1
                    self.ack_errors += flag != 1
                pos += 6
                continue
            if end - pos - 6 < length:
                break
            if kind == _MESSAGE:
                self.messages += 1
                if self.reply_offset is not None and buf[pos + self.reply_offset] != _RPC_REPLY:
                    self.rpc_errors += 1
            elif kind == _PUBLICATION:
                self.publications += 1
            else:
                self.others += 1
            pos += 6 + length
        self._tail = buf[pos:]

    def _count_run(self, buf: bytes, end: int) -> int:
        """Count a leading run of frames identical in size and header to the first one, by strided compares.

        Checking every header byte at every frame boundary is the same check the
        loop makes, done in C; returns where the run ends (0 if there is none).
        """
        kind, length, flag = _SERVER_HEADER.unpack_from(buf, 0)
        size = 6 if kind in (_ACK, _NOP) else 6 + length
        count = end // size
        if count < 2 or (kind == _ACK and flag != 1):
            return 0
        span = count * size
        offsets = (0, 5) if kind == _ACK else range(6)
        if kind == _MESSAGE and self.reply_offset is not None:
            if self.reply_offset >= size or buf[self.reply_offset] != _RPC_REPLY:
                return 0
            offsets = (*offsets, self.reply_offset)
        for j in offsets:
            if buf[j:span:size] != buf[j : j + 1] * count:
                return 0
        if kind == _ACK:
            self.acks += count
        elif kind == _MESSAGE:
            self.messages += count
        elif kind == _PUBLICATION:
            self.publications += count
        elif kind != _NOP:
            self.others += count
        return span


class WireClient(asyncio.Protocol):
    """A raw elbus connection: does the handshake, then feeds every read to its `FrameCounter`.

    ``on_read`` (optional) runs after each counted read; the stage's `Tick` is set on every read.
    """

    def __init__(self, name: str, tick: Tick, counter: FrameCounter) -> None:
        self.name, self.tick, self.counter = name, tick, counter
        self.on_read: Callable[[], None] | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost = False
        self._stage, self._handshake = 0, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._stage < 3:
            data = self._handshake_step(data)
            if not data:
                return
        self.counter.feed(data)
        if self.on_read is not None:
            self.on_read()
        self.tick.set()

    def _handshake_step(self, data: bytes) -> bytes:
        buf = self._handshake + data
        while self._stage < 3:
            need = 3 if self._stage == 0 else 1
            if len(buf) < need:
                self._handshake = buf
                return b""
            head, buf = buf[:need], buf[need:]
            if self._stage == 0 and head == codec.PROTOCOL_GREETING:
                self.transport.write(head)
            elif self._stage == 1 and head == codec.RESULT_OK:
                self.transport.write(codec.encode_registration(self.name))
            elif self._stage == 2 and head == codec.RESULT_OK:
                self.ready.set_result(None)
            else:
                self.ready.set_exception(StageError(f"{self.name}: handshake refused at step {self._stage}: {head.hex()}"))
                self.transport.close()
                return b""
            self._stage += 1
        return buf

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(StageError(f"{self.name}: connection lost during the handshake: {exc}"))
        self.tick.set()


async def connect(address: str, name: str, tick: Tick, counter: FrameCounter | None = None, timeout: float = 10.0) -> WireClient:
    """Connect and register ``name``; raises StageError when refused and OSError when unreachable."""
    loop = asyncio.get_running_loop()
    client = WireClient(name, tick, counter or FrameCounter())
    if address.startswith("/"):
        await loop.create_unix_connection(lambda: client, address)
    else:
        host, _, port = address.rpartition(":")
        await loop.create_connection(lambda: client, host, int(port))  # asyncio sets TCP_NODELAY
    await asyncio.wait_for(client.ready, timeout)
    return client


def _close(clients: list[WireClient]) -> None:
    for client in clients:
        client.transport.close()


def _check_alive(clients: list[WireClient]) -> Callable[[], bool]:
    def alive() -> bool:
        lost = [c.name for c in clients if c.lost]
        if lost:
            raise StageError(f"connection lost: {', '.join(lost)}")
        return True

    return alive


async def _pump(client: WireClient, frame: bytes, n: int, progress: Callable[[], int], window: int, chunk: int) -> None:
    """Write ``n`` copies of ``frame`` in chunks, keeping ``sent - progress()`` within ``window``."""
    block, sent = frame * chunk, 0
    while sent < n:
        k = min(chunk, n - sent)
        floor = sent + k - window  # progress needed before this chunk may go
        if progress() < floor:

            def caught_up(floor: int = floor) -> bool:
                return client.lost or progress() >= floor

            def describe(sent: int = sent) -> str:
                return f"{client.name} sent {sent}, done {progress()}"

            await client.tick.until(caught_up, describe)
            if client.lost:
                raise StageError(f"{client.name}: connection lost after {sent} frames")
        client.transport.write(block if k == chunk else frame * k)
        sent += k
        await asyncio.sleep(0)


def _tag() -> str:
    return uuid.uuid4().hex[:8]


async def run_stage(
    stage: str,
    address: str,
    *,
    count: int,
    payload_size: int = 100,
    workers: int = 2,
    window: int = DEFAULT_WINDOW,
    chunk: int = DEFAULT_CHUNK,
    stall_timeout: float = 10.0,
) -> Measurement:
    """Run one wire-level stage; raises StageError on a lost or refused frame, or after ``stall_timeout`` s without progress."""
    payload = b"\xa5" * payload_size
    tick = Tick(stall_timeout)
    clients: list[WireClient] = []
    try:
        if stage == "publish.fanout":
            return await _fanout(address, tick, clients, count, payload, window, chunk)
        if stage == "rpc.latency":
            return await _latency(address, tick, clients, count, payload)
        return await _paired(stage, address, tick, clients, count, payload, workers, window, chunk)
    finally:
        _close(clients)


async def _paired(
    stage: str,
    address: str,
    tick: Tick,
    clients: list[WireClient],
    count: int,
    payload: bytes,
    workers: int,
    window: int,
    chunk: int,
) -> Measurement:
    """The one-to-one and RPC stages: ``workers`` (sender, receiver) pairs, ``count // workers`` frames each."""
    tag, per = _tag(), max(1, count // workers)
    to_broker = stage == "rpc.call"
    pairs: list[tuple[WireClient, WireClient | None]] = []
    for w in range(workers):
        peer_name = f"bench.{tag}.{w}.b"
        sender_name = f"bench.{tag}.{w}.a"
        replier = ".broker" if to_broker else peer_name
        rpc = stage in ("rpc.call", "rpc.call+handle")
        sender = await connect(address, sender_name, tick, FrameCounter(6 + len(replier) + 1 if rpc else None))
        clients.append(sender)
        peer = None
        if not to_broker:
            peer = await connect(address, peer_name, tick)
            clients.append(peer)
        pairs.append((sender, peer))
    alive = _check_alive(clients)

    def describe() -> str:
        return "; ".join(
            f"{s.name} acks {s.counter.acks} replies {s.counter.messages}"
            + (f", {p.name} got {p.counter.messages} acks {p.counter.acks}" if p else "")
            for s, p in pairs
        )

    jobs = [(sender, *_plan(stage, sender, peer, per, payload)) for sender, peer in pairs]
    start = time.perf_counter()
    await asyncio.gather(*(_pump(s, frame, per, progress, window, chunk) for s, frame, progress, _ in jobs))
    if stage == "send.qos.no":  # a final acknowledged frame: its ack comes after every frame before it was routed
        for sender, peer in pairs:
            assert peer is not None
            sender.transport.write(codec.encode_message_frame(2, 1, peer.name, payload))
    expected = [(counter, field, n) for _s, _f, _p, counts in jobs for counter, field, n in counts]

    def reached(field: str) -> bool:
        return all(getattr(counter, f) >= n for counter, f, n in expected if f == field or field == "*")

    # Timed: until the stage's own end (the fence ack, every ack, every delivery or reply).
    await tick.until(lambda: alive() and reached(_END[stage]), describe)
    seconds = time.perf_counter() - start
    # Untimed: every count must then be exact, with no error code anywhere.
    await tick.until(lambda: alive() and reached("*"), describe)
    await asyncio.sleep(0.01)  # let any surplus frame arrive
    errors = sum(c.counter.ack_errors + c.counter.rpc_errors for c in clients)
    wrong = [f"{field} {getattr(counter, field)} != {n}" for counter, field, n in expected if getattr(counter, field) != n]
    if errors or wrong:
        raise StageError(f"{stage}: {errors} error codes, {wrong}: {describe()}")
    return Measurement(stage, per * workers, seconds, "calls/s" if stage.startswith("rpc") else "frames/s")


# The count whose arrival ends the timed part of a stage ("*": all of them).
_END = {
    "send.qos.no": "acks",
    "send.qos.processed": "acks",
    "send+recv.qos.no": "*",
    "send+recv.qos.processed": "*",
    "rpc.call": "*",
    "rpc.call+handle": "messages",
    "rpc.call0": "*",
}


def _plan(
    stage: str, sender: WireClient, peer: WireClient | None, per: int, payload: bytes
) -> tuple[bytes, Callable[[], int], list[tuple[FrameCounter, str, int]]]:
    """One pair's pre-encoded frame, its in-flight progress count, and the exact counts it must end with."""
    s = sender.counter
    if stage == "rpc.call":
        frame = codec.encode_message_frame(1, 1, ".broker", codec.encode_rpc_request(1, "benchmark.test", payload))
        return frame, lambda: s.messages, [(s, "messages", per), (s, "acks", per)]
    assert peer is not None
    p = peer.counter
    if stage == "rpc.call+handle":
        reply = codec.encode_message_frame(1, 1, sender.name, codec.encode_rpc_reply(1, payload))
        answered = [0]

        def answer() -> None:  # the handler replies to every request it has counted, in one write
            k = p.messages - answered[0]
            if k:
                answered[0] += k
                peer.transport.write(reply * k)

        peer.on_read = answer
        frame = codec.encode_message_frame(1, 1, peer.name, codec.encode_rpc_request(1, "bench.echo", payload))
        return frame, lambda: s.messages, [(s, "messages", per), (s, "acks", per), (p, "messages", per), (p, "acks", per)]
    if stage == "rpc.call0":
        frame = codec.encode_message_frame(1, 1, peer.name, codec.encode_rpc_request(0, "bench.echo", payload))
        return frame, lambda: p.messages, [(s, "acks", per), (p, "messages", per)]
    if stage not in _END:
        raise ValueError(f"unknown stage {stage!r}")
    if stage.endswith("qos.no"):
        frame = codec.encode_message_frame(1, 0, peer.name, payload)
        fence = stage == "send.qos.no"  # one acknowledged frame more, sent after the others
        return frame, lambda: p.messages, [(p, "messages", per + fence), *([(s, "acks", 1)] if fence else [])]
    frame = codec.encode_message_frame(1, 1, peer.name, payload)
    return frame, lambda: min(p.messages, s.acks), [(s, "acks", per), (p, "messages", per)]


async def _fanout(
    address: str, tick: Tick, clients: list[WireClient], count: int, payload: bytes, window: int, chunk: int
) -> Measurement:
    """One publisher, ten subscribers of one topic; the rate is deliveries per second."""
    tag = _tag()
    topic = f"bench/{tag}/fanout"
    publisher = await connect(address, f"bench.{tag}.pub", tick)
    clients.append(publisher)
    subscribers = [await connect(address, f"bench.{tag}.sub{i}", tick) for i in range(FANOUT_SUBSCRIBERS)]
    clients.extend(subscribers)
    alive = _check_alive(clients)
    for sub in subscribers:
        sub.transport.write(codec.encode_subscribe_frame(1, 1, [topic]))
    await tick.until(lambda: alive() and all(s.counter.acks for s in subscribers), lambda: "subscribe acks")

    def delivered() -> int:
        return min(s.counter.publications for s in subscribers)

    frame = codec.encode_publish_frame(1, 0, topic, payload)
    start = time.perf_counter()
    await _pump(publisher, frame, count, delivered, window, chunk)
    await tick.until(
        lambda: alive() and delivered() >= count, lambda: f"delivered {[s.counter.publications for s in subscribers]}"
    )
    seconds = time.perf_counter() - start
    await asyncio.sleep(0.01)
    got = [s.counter.publications for s in subscribers]
    if any(g != count for g in got) or any(s.counter.ack_errors for s in subscribers):
        raise StageError(f"publish.fanout: delivered {got}, wanted {count} each")
    return Measurement("publish.fanout", count * FANOUT_SUBSCRIBERS, seconds, "deliveries/s")


async def _latency(address: str, tick: Tick, clients: list[WireClient], count: int, payload: bytes) -> Measurement:
    """Sequential RPC round trips to a handler connection; p50/p99 in µs."""
    tag = _tag()
    handler = await connect(address, f"bench.{tag}.h", tick)
    caller = await connect(address, f"bench.{tag}.c", tick, FrameCounter(6 + len(handler.name) + 1))
    clients.extend((caller, handler))
    alive = _check_alive(clients)
    reply = codec.encode_message_frame(1, 1, caller.name, codec.encode_rpc_reply(1, payload))
    answered = [0]

    def answer() -> None:
        k = handler.counter.messages - answered[0]
        if k:
            answered[0] += k
            handler.transport.write(reply * k)

    handler.on_read = answer
    request = codec.encode_message_frame(1, 1, handler.name, codec.encode_rpc_request(1, "bench.echo", payload))
    c = caller.counter
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(1, count + 1):
        t0 = time.perf_counter()
        caller.transport.write(request)

        def replied(i: int = i) -> bool:
            return alive() and c.messages >= i

        await tick.until(replied, lambda: f"replies {c.messages}")
        latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - start
    if c.rpc_errors or c.messages != count:
        raise StageError(f"rpc.latency: {c.messages} replies, {c.rpc_errors} errors, wanted {count}")
    return Measurement.latency(count, seconds, latencies)


async def idle_memory(broker_rss: Callable[[], int], address: str, clients: int, batch: int = 100) -> float:
    """Broker memory per idle registered client in bytes: RSS delta over ``clients`` connections."""
    tick = Tick()
    tag = _tag()
    await asyncio.sleep(0.2)
    before = broker_rss()
    conns: list[WireClient] = []
    try:
        for first in range(0, clients, batch):  # in batches: the listen backlog is finite
            conns.extend(
                await asyncio.gather(
                    *(connect(address, f"idle.{tag}.{i}", tick) for i in range(first, min(clients, first + batch)))
                )
            )
        await asyncio.sleep(0.5)
        after = broker_rss()
    finally:
        _close(conns)
    return (after - before) / clients


async def publish_cost(
    address: str,
    *,
    subscriptions: int,
    count: int,
    payload_size: int = 100,
    window: int = DEFAULT_WINDOW,
    chunk: int = DEFAULT_CHUNK,
) -> float:
    """Microseconds per publication to one subscriber while ``subscriptions`` unrelated topics are subscribed."""
    tick = Tick()
    tag = _tag()
    clients: list[WireClient] = []
    try:
        publisher = await connect(address, f"bench.{tag}.pub", tick)
        subscriber = await connect(address, f"bench.{tag}.sub", tick)
        # The unrelated subscriptions, spread over as many clients as the broker's per-client bound asks.
        per_client = 4000
        crowd = [
            await connect(address, f"bench.{tag}.crowd{first}", tick) for first in range(0, subscriptions, per_client)
        ]
        clients.extend((publisher, subscriber, *crowd))
        alive = _check_alive(clients)
        subscriber.transport.write(codec.encode_subscribe_frame(1, 1, [f"bench/{tag}/topic"]))
        for first, member in zip(range(0, subscriptions, per_client), crowd, strict=True):
            topics = [f"unrelated/{i}/{tag}" for i in range(first, min(subscriptions, first + per_client))]
            member.transport.write(codec.encode_subscribe_frame(1, 1, topics))
        await tick.until(
            lambda: alive() and subscriber.counter.acks == 1 and all(m.counter.acks == 1 for m in crowd),
            lambda: "subscribe acks",
        )
        frame = codec.encode_publish_frame(1, 0, f"bench/{tag}/topic", b"\xa5" * payload_size)
        s = subscriber.counter
        warmup = max(1, count // 10)  # untimed: the first publications also pay for the connections' first buffers
        await _pump(publisher, frame, warmup, lambda: s.publications, window, chunk)
        await tick.until(lambda: alive() and s.publications >= warmup, lambda: f"delivered {s.publications}")
        start = time.perf_counter()
        await _pump(publisher, frame, count, lambda: s.publications - warmup, window, chunk)
        await tick.until(lambda: alive() and s.publications >= warmup + count, lambda: f"delivered {s.publications}")
        seconds = time.perf_counter() - start
        strays = sum(m.counter.publications for m in crowd)
        if s.publications != warmup + count or strays:
            raise StageError(f"publish cost: delivered {s.publications} of {warmup + count}, {strays} to others")
        return seconds / count * 1e6
    finally:
        _close(clients)
