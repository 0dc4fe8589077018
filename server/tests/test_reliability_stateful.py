"""A hypothesis state machine: well-behaved and hostile raw-socket clients against one live broker.

Good clients register, subscribe, unsubscribe, publish, send and broadcast;
the test keeps its own model of the routing tables (the documented routing rules) and
checks every ack code and every delivery, exactly: after each operation a
probe client sends a marker to every good client, which must receive what the
model says and then the marker, nothing else. Bad clients meanwhile send
random bytes, truncated frames, absurd lengths, invalid UTF-8, unknown ops
and wrong handshakes. At the end the bad clients leave and the broker's
registry, connections and topic tree must be back to the good clients alone,
with each good client's counters equal to what it sent and received.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from reliability_helpers import LoopThread, WireClient, open_stream, wait_for
from routing_rules import mask_matches, normalize_pattern, topic_matches

from elbus_server import Broker
from elbus_spec import BROKER_NAME, Ack, Broadcast, Code, Frame, Kind, Message, Publication, QoS, Refused, Registered

GOOD = ("a.x", "a.y.z", "b.x")
PROBE = "probe"
NAME_PARTS = ("a", "b", "x", "y", "z", "?", "*")
LEVELS = ("a", "b", "+", "#")
TOPIC_LEVELS = ("a", "b", "c")

good_names = st.sampled_from(GOOD)
masks = st.lists(st.sampled_from(NAME_PARTS), min_size=1, max_size=3).map(".".join)
patterns = st.lists(st.sampled_from(LEVELS), min_size=1, max_size=3).map("/".join)
topics = st.lists(st.sampled_from(TOPIC_LEVELS), min_size=1, max_size=3).map("/".join)
payloads = st.binary(max_size=16)
acked = st.sampled_from([QoS.PROCESSED, QoS.REALTIME_PROCESSED])


def _frame(op_id: int, op: int, body: bytes, length: int | None = None) -> bytes:
    return op_id.to_bytes(4, "little") + bytes([op]) + (len(body) if length is None else length).to_bytes(4, "little") + body


# Hostile inputs from a registered client; each is a protocol error or an incomplete frame.
hostile_after_registration = st.one_of(
    st.binary(min_size=1, max_size=64),  # random bytes
    st.builds(lambda p: _frame(1, 0x12 | 0x40, b"a.x\0" + p)[: 9 + len(p) // 2], payloads),  # truncated frame
    st.just(_frame(2, 0x12 | 0x40, b"", 0xFFFFFFFF)),  # absurd length
    st.just(_frame(3, 0x12 | 0x40, b"\xff\xfe\0hello")),  # target not UTF-8
    st.sampled_from([0x05, 0x11, 0x3F, 0x20]).map(lambda op: _frame(4, op | 0x40, b"x\0y")),  # unknown ops
    st.just(_frame(5, 0x12 | 0x40, b"no separator")),  # body without NUL
)
wrong_handshakes = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda b: b"\xeb\x02\x00" + b, st.binary(max_size=8)),  # wrong version
    st.just(b"\xeb\x01\x00\x03\x00\xff\xfeA"),  # name not UTF-8
    st.just(b"\xeb\x01\x00\xff\xff.broker"),  # name announced longer than sent
)


class BrokerUnderAttack(RuleBasedStateMachine):
    """The model: each good client's subscriptions, and what each good client has sent (for its counters)."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = LoopThread()
        self.dir = Path(tempfile.mkdtemp(prefix="elbus-", dir="/tmp"))
        self.broker = Broker(timeout=0.5)
        self.path = self.loop.run(self.broker.serve_unix(self.dir / "b.sock"))
        self.good: dict[str, WireClient] = {}
        self.subs: dict[str, set[str]] = {n: set() for n in GOOD}
        self.sent = dict.fromkeys(GOOD, 0)  # frames each good client sent (r_frames)
        self.received = dict.fromkeys(GOOD, 0)  # frames routed to it, acks included (w_frames)
        self.bad: list[WireClient | Any] = []
        self.bad_count = 0

    @initialize()
    def connect_good(self) -> None:
        for name in (*GOOD, PROBE):
            client = self.loop.run(WireClient.connect(self.path, name))
            assert isinstance(client.result, Registered)
            self.good[name] = client

    # --- well-behaved operations -------------------------------------------------------------

    def _op(self, sender: str, make: Any, code: int, deliveries: dict[str, Frame]) -> None:
        """Send one acknowledged frame, check its ack code, then that exactly ``deliveries`` arrived.

        The broker queues the deliveries before the ack, so a sender that
        receives its own frame gets it before the ack.
        """
        client = self.good[sender]
        op_id, data = make(client.conn)
        client.write(data)
        self.sent[sender] += 1
        self.received[sender] += 1  # the ack
        own: list[Frame] = []
        while not isinstance(event := self._next(sender, frames_only=False), Ack):
            own.append(event)
        assert (event.op_id, event.code) == (op_id, code), (event, op_id, code)
        assert own == ([deliveries[sender]] if sender in deliveries else []), (own, deliveries)
        for name, frame in deliveries.items():
            self.received[name] += 1
            if name != sender:
                got = self._next(name)
                assert got == frame, (name, got, frame)
        self._check_nothing_else()

    def _next(self, name: str, frames_only: bool = True) -> Any:
        """The next event of a good client, skipping (and counting) the broker's registration announcements.

        They arrive whenever a bad client registers or is dropped, which this
        test does not time.
        """
        while True:
            event = self.loop.run(self.good[name].next_event())
            assert event is not None, f"{name} was disconnected"
            if isinstance(event, Frame) and event.sender == BROKER_NAME and event.topic == ".broker/info":
                self.received[name] += 1
                continue
            assert not frames_only or isinstance(event, Frame), event
            return event

    def _check_nothing_else(self) -> None:
        probe = self.good[PROBE]
        for name in GOOD:
            op_id, data = probe.conn.send_message(name, b"marker", QoS.PROCESSED)
            probe.write(data)
            while isinstance(event := self.loop.run(probe.next_event()), Frame):  # broadcasts to `*` reach the probe too
                pass
            assert event == Ack(op_id, Code.OK), event
            self.received[name] += 1
            got = self._next(name)
            assert (got.sender, got.payload) == (PROBE, b"marker"), (name, got)

    @rule(sender=good_names, pattern=patterns)
    def subscribe(self, sender: str, pattern: str) -> None:
        self._op(sender, lambda c: c.send_subscribe([pattern], QoS.PROCESSED), Code.OK, {})
        self.subs[sender].add(normalize_pattern(pattern))

    @rule(sender=good_names, data=st.data())
    def unsubscribe(self, sender: str, data: Any) -> None:
        choices = [*sorted(self.subs[sender]), "a/b", "#"]
        pattern = data.draw(st.sampled_from(choices))
        self._op(sender, lambda c: c.send_unsubscribe([pattern], QoS.PROCESSED), Code.OK, {})
        self.subs[sender].discard(normalize_pattern(pattern))

    @rule(sender=good_names, topic=topics, payload=payloads, qos=acked)
    def publish(self, sender: str, topic: str, payload: bytes, qos: int) -> None:
        realtime = bool(qos & 2)
        expected = {n: _delivery(Kind.PUBLISH, sender, topic, payload, realtime)
                    for n, pats in self.subs.items() if any(topic_matches(p, topic) for p in pats)}
        self._op(sender, lambda c: c.send_publish(topic, payload, qos), Code.OK, expected)

    @rule(sender=good_names, to=st.sampled_from((*GOOD, "nobody", "a")), payload=payloads, qos=acked)
    def message(self, sender: str, to: str, payload: bytes, qos: int) -> None:
        target = to
        realtime = bool(qos & 2)
        if target in GOOD:
            self._op(sender, lambda c: c.send_message(target, payload, qos), Code.OK,
                     {target: _delivery(Kind.MESSAGE, sender, None, payload, realtime)})
        else:
            self._op(sender, lambda c: c.send_message(target, payload, qos), Code.NOT_REGISTERED, {})

    @rule(sender=good_names, mask=masks, payload=payloads, qos=acked)
    def broadcast(self, sender: str, mask: str, payload: bytes, qos: int) -> None:
        realtime = bool(qos & 2)
        expected = {n: _delivery(Kind.BROADCAST, sender, None, payload, realtime) for n in GOOD if mask_matches(mask, n)}
        self._op(sender, lambda c: c.send_broadcast(mask, payload, qos), Code.OK, expected)

    @rule(name=st.sampled_from([*GOOD, ".hidden", "a.x%%2", "fresh.one"]))
    def register(self, name: str) -> None:
        """Taken names are refused 76, dotted names 72; a secondary of a good client and a new name register, then leave."""
        client = self.loop.run(WireClient.connect(self.path, name))
        try:
            if name in GOOD:
                assert isinstance(client.result, Refused) and client.result.code == Code.BUSY, client.result
            elif name.startswith("."):
                assert isinstance(client.result, Refused) and client.result.code == Code.DATA, client.result
            else:
                assert isinstance(client.result, Registered), client.result
        finally:
            self.loop.run(client.close())

    # --- hostile clients ------------------------------------------------------------------------

    @rule(n=st.integers(0, 10_000), data=hostile_after_registration)
    def bad_registered_client(self, n: int, data: bytes) -> None:
        self.bad_count += 1
        client = self.loop.run(WireClient.connect(self.path, f"bad.{n}.{self.bad_count}"))
        assert isinstance(client.result, Registered)
        client.write(data)
        self.bad.append(client)

    @rule(data=wrong_handshakes)
    def bad_handshake(self, data: bytes) -> None:
        async def open_and_write() -> Any:
            reader, writer = await open_stream(self.path)
            await reader.readexactly(3)
            writer.write(data)
            return writer

        self.bad.append(self.loop.run(open_and_write()))

    @precondition(lambda self: self.bad)
    @rule(data=st.data())
    def bad_client_leaves(self, data: Any) -> None:
        client = self.bad.pop(data.draw(st.integers(0, len(self.bad) - 1)))
        self.loop.run(_close(client))

    @invariant()
    def good_clients_stay_registered(self) -> None:
        if self.good:
            assert all(self.broker.clients.get(n) is not None for n in self.good)

    # --- the end: back to the baseline ---------------------------------------------------------------

    def teardown(self) -> None:
        try:
            if self.good:
                self._check_baseline()
        finally:
            for client in [*self.bad, *self.good.values()]:
                self.loop.run(_close(client))
            self.loop.run(self.broker.close())
            self.loop.stop()
            shutil.rmtree(self.dir, ignore_errors=True)

    def _check_baseline(self) -> None:
        for client in self.bad:
            self.loop.run(_close(client))
        self.bad.clear()
        broker = self.broker
        wanted = {*GOOD, PROBE, BROKER_NAME}
        self.loop.run(wait_for(lambda: set(broker.clients) == wanted and len(broker._connections) == len(GOOD) + 1,
                               5, "the bad clients to be gone"))
        self._check_nothing_else()  # reads the last announcements, counting them
        for name in GOOD:
            peer = broker.clients[name]
            assert (peer.r_frames, peer.w_frames) == (self.sent[name], self.received[name]), name
            assert broker.subscriptions(name) == frozenset({*self.subs[name], ".broker/warn"}), name
        for peer in list(broker._connections):
            assert peer.name in wanted and peer.queued == 0
        assert broker.r_frames >= sum(self.sent.values()) and broker.w_frames >= sum(self.received.values())


def _delivery(kind: Kind, sender: str, topic: str | None, payload: bytes, realtime: bool) -> Frame:
    """The event a good client's parser yields for that delivery."""
    cls = {Kind.MESSAGE: Message, Kind.BROADCAST: Broadcast, Kind.PUBLISH: Publication}[kind]
    return cls(sender, topic, payload, realtime)


async def _close(client: Any) -> None:
    if isinstance(client, WireClient):
        await client.close()
    else:
        client.close()


TestBrokerUnderAttack = BrokerUnderAttack.TestCase
TestBrokerUnderAttack.settings = settings(
    max_examples=50, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)
pytestmark = pytest.mark.timeout(90)
