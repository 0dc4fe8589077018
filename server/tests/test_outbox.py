"""The outbox alone: room asked once per step, refusals counted, counters added once, overflow told after delivery."""

from __future__ import annotations

from typing import Any

from elbus_server._outbox import Outbox
from elbus_server._peer import ClientKind, PeerState


class ListPeer(PeerState):
    """A `Peer` that keeps what it is handed, with a fixed room."""

    takes_bytes = True

    def __init__(self, frames: int, nbytes: int) -> None:
        super().__init__(ClientKind.LOCAL_IPC)
        self._room = (frames, nbytes)
        self.rooms_asked = 0
        self.delivered: list[tuple[list[Any], bool]] = []
        self.overflowed: list[int] = []
        self.log: list[str] = []

    @property
    def queued(self) -> int:
        return 0

    def room(self) -> tuple[int, int]:
        self.rooms_asked += 1
        return self._room

    def deliver(self, items: list[Any], size: int, flush: bool) -> None:
        assert size == sum(map(len, items))
        self.delivered.append((items, flush))
        self.log.append("deliver")

    def overflow(self, frames: int) -> None:
        self.overflowed.append(frames)
        self.log.append("overflow")

    def ack(self, op_id: int, code: int) -> None:
        raise AssertionError("a peer that takes bytes is sent ack frames")

    def disconnect(self, reason: str) -> None:
        raise AssertionError("the outbox never disconnects")


def test_frames_are_taken_while_there_is_room_and_counted_once() -> None:
    outbox, peer = Outbox(), ListPeer(3, 1000)
    taken = [outbox.add(peer, b"x" * 10, 7, 0) for _ in range(5)]
    assert taken == [True, True, True, False, False] and peer.rooms_asked == 1
    outbox.flush()
    assert peer.delivered == [([b"x" * 10] * 3, False)] and peer.overflowed == [2]
    assert (peer.w_frames, peer.w_bytes, outbox.frames, outbox.length) == (3, 21, 3, 21)
    assert peer.log == ["deliver", "overflow"]  # told after what fitted was handed over


def test_a_queue_holds_its_byte_bound_plus_one_frame() -> None:
    outbox, peer = Outbox(), ListPeer(100, 25)
    assert [outbox.add(peer, b"x" * 10, 10, 0) for _ in range(4)] == [True, True, True, False]


def test_a_run_is_taken_whole_or_not_at_all_and_realtime_flushes() -> None:
    outbox, peer = Outbox(), ListPeer(3, 1000)
    assert outbox.extend(peer, [b"a", b"b"], 2, 2, 1)
    assert not outbox.extend(peer, [b"c", b"d"], 2, 2, 0)  # one frame of room left: the caller goes one by one
    assert outbox.add(peer, b"c", 1, 0) and not outbox.add(peer, b"d", 1, 0)
    outbox.flush()
    assert peer.delivered == [([b"a", b"b", b"c"], True)] and peer.overflowed == [1]


def test_acks_queue_behind_what_was_routed_to_the_sender() -> None:
    outbox, peer = Outbox(), ListPeer(10, 1000)
    outbox.add(peer, b"own publication", 5, 0)
    outbox.ack(peer, 7, 1, 0)
    outbox.flush()
    assert peer.delivered[0][0] == [b"own publication", b"\xfe\x07\x00\x00\x00\x01"] and peer.w_bytes == 5 + 6
