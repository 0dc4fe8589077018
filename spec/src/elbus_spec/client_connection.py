"""The client side of a connection to a broker, without any I/O.

Create it with the name to register, feed it what the socket received and
send what `data_to_send` returns: it answers the greeting and sends the
name by itself, then reports `Registered` or `Refused`. Outgoing frames come
from the ``send_*`` methods, which number operations.

It also holds the rules every client follows, so that the blocking and the
asyncio clients act alike: what a payload, a topic and a QoS may be, the
largest frame sent, when a silent broker counts as dead, how long to wait
between reconnect attempts, and which subscriptions to renew after one.
Payload, QoS and frame size are checked by every ``send_*`` method; the
topic rules (`check_patterns`, `check_publication_topic`) are stricter than
the wire and the broker, so the clients apply them and the ``send_*``
methods still encode any topic the wire carries (tests of brokers need that).
Which operations still await an ack is the clients' business (each maps op
ids to its own kind of waiter), read from the `Ack` events.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

from . import _codec as codec
from ._base import ConnectionBase, State
from ._mypyc import mypyc_attr
from .constants import DEAD_BROKER_FACTOR, DEFAULT_MAX_FRAME_LENGTH, DEFAULT_TIMEOUT, Code, Kind, QoS
from .errors import FrameTooLarge, InvalidTopic, LocalProtocolError, RemoteProtocolError
from .events import Ack, Broadcast, Event, KeepAlive, Message, Publication, Refused, Registered

__all__ = ["ClientConnection", "MAX_OP_ID"]

MAX_OP_ID = 0xFFFF_FFFF
_HEADER = codec.SERVER_HEADER
_HEADER_SIZE = codec.SERVER_HEADER_SIZE
_ACK, _ACK_SIZE = codec.ACK_TAG, codec.ACK_SIZE
_NOP = Kind.NOP.value
_MESSAGE, _PUBLISH = Kind.MESSAGE.value, Kind.PUBLISH.value
_CLIENT_HEADER_SIZE = codec.CLIENT_HEADER_SIZE
_KEEPALIVE = KeepAlive()
_QOS_VALUES = frozenset(QoS)

Payload = bytes | bytearray | memoryview | str


def _frame_events(frames: list[tuple[int, str, str | None, bytes, int]], append: Callable[[Event], None]) -> None:
    """The events of the frames `codec.decode_delivery_frames` decoded, in order."""
    for kind, sender, topic, payload, realtime in frames:
        if kind == _PUBLISH:
            append(Publication(sender, topic, payload, realtime != 0))
        elif kind == _MESSAGE:
            append(Message(sender, None, payload, realtime != 0))
        else:
            append(Broadcast(sender, None, payload, realtime != 0))


@mypyc_attr(allow_interpreted_subclasses=True)  # a client may change how it numbers operations, say
class ClientConnection(ConnectionBase):
    """Protocol state of a client: handshake, op ids, frame parsing, and the rules of what is sent.

    States: AWAIT_GREETING -> AWAIT_HANDSHAKE_RESULT -> AWAIT_REGISTRATION ->
    READY; CLOSED after a refusal, ERROR after a protocol violation.

    ``timeout`` is the client's timeout: the default wait for an ack and the
    base of `dead_broker_after`. ``max_frame_length`` bounds frames both
    ways: a received one over it is a protocol violation, a sent one is
    refused with `FrameTooLarge` before anything is written.
    """

    __slots__ = ("_op_id", "_registration", "name", "timeout")

    def __init__(self, name: str, *, max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH, timeout: float = DEFAULT_TIMEOUT) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        super().__init__(State.AWAIT_GREETING, max_frame_length)
        self._registration = codec.encode_registration(name)  # validates the name early
        self.name = name
        self.timeout = timeout
        self._op_id = 0

    # --- rules shared by the clients ---------------------------------------------

    @property
    def dead_broker_after(self) -> float:
        """Seconds without a byte from the broker after which the connection is dropped as dead.

        The broker sends a keep-alive at least every its own timeout (the
        same default as ours), so ``DEAD_BROKER_FACTOR`` times our timeout
        leaves room for one late keep-alive.
        """
        return self.timeout * DEAD_BROKER_FACTOR

    def ack_timeout(self, timeout: float | None) -> float:
        """Seconds to wait for an ack: ``timeout``, or the connection's timeout when None."""
        return self.timeout if timeout is None else timeout

    @staticmethod
    def check_publication_topic(topic: object) -> str:
        """``topic`` if a publication may go to it; raises `InvalidTopic` (wildcards) or `TypeError`.

        A publication names one topic: ``+`` and ``#`` would only ever reach
        subscribers of those literal characters, which is never what was meant.
        """
        if not isinstance(topic, str):
            raise TypeError(f"topic must be str, got {type(topic).__name__}")
        if "+" in topic or "#" in topic:
            raise InvalidTopic(f"no wildcards (+, #) in a publication topic: {topic!r}")
        return topic

    @staticmethod
    def check_patterns(topics: Sequence[str]) -> list[str]:
        """``topics`` as a list if each is a valid subscription pattern, the MQTT way.

        ``+`` and ``#`` stand for whole levels (``a/+/c``, ``a/#``), and ``#``
        only as the last one (an empty topic is a valid one, as in the original
        broker); raises `InvalidTopic` otherwise, `ValueError`
        for no topics and `TypeError` for a topic that is not a str.
        """
        if not topics:
            raise ValueError("at least one topic is required")
        checked: list[str] = []
        items: Sequence[object] = topics  # each is checked here, as pure Python and compiled code alike
        for topic in items:
            if not isinstance(topic, str):
                raise TypeError(f"topics must be str, got {type(topic).__name__} (pass them as separate arguments)")
            checked.append(topic)
            if "+" not in topic and "#" not in topic:
                continue
            levels = topic.split("/")
            for index, level in enumerate(levels):
                if level == "#" and index != len(levels) - 1:
                    raise InvalidTopic(f"'#' may only be the last level of a pattern: {topic!r}")
                if level not in ("+", "#") and ("+" in level or "#" in level):
                    raise InvalidTopic(f"'+' and '#' must stand for a whole level: {topic!r}")
        return checked

    @staticmethod
    def renewable(topics: Sequence[str], code: int | None) -> list[str]:
        """The topics of a SUBSCRIBE to renew after a reconnect, given its ack ``code``.

        ``code`` is None for a SUBSCRIBE sent without ack. A refused single
        topic is never renewed. A refusal of several topics may concern only
        some of them (the broker subscribes the allowed rest), so all are kept
        and the renewal, one topic per frame, sorts them out.
        """
        if code is None or code == Code.OK or len(topics) > 1:
            return list(topics)
        return []

    @staticmethod
    def reconnect_delays(first: float, limit: float) -> Iterator[float]:
        """Waits before each reconnect attempt: doubling from ``first`` up to ``limit``, jittered.

        Each wait is drawn from the upper half of its step, so clients that
        lost the same broker do not all come back in the same instant.
        """
        delay = first
        while True:
            yield delay * random.uniform(0.5, 1.0)
            delay = min(delay * 2, limit)

    # --- receiving -----------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Add received bytes; return every event that is now complete."""
        self._check_open()
        events: list[Event] = []
        received = self._frames(data, events)
        if received is None:
            return events
        view, pos = received
        end = len(view)
        need = _HEADER_SIZE
        max_length = self.max_frame_length
        unpack = _HEADER.unpack_from
        unpack_ack = codec.unpack_ack_from
        deliveries = codec.decode_delivery_frames
        frames: list[tuple[int, str, str | None, bytes, int]] = []
        append = events.append
        while end - pos >= _HEADER_SIZE:
            kind = view[pos]
            if kind == _ACK:
                op_id, code = unpack_ack(view, pos)
                append(Ack(op_id, code))
                pos += _ACK_SIZE
                continue
            if kind == _NOP:
                append(_KEEPALIVE)
                pos += codec.NOP_SIZE
                continue
            try:  # this frame and every MESSAGE, BROADCAST or PUBLISH frame right after it
                stop = deliveries(view, pos, end, max_length, frames)
            except RemoteProtocolError as exc:
                _frame_events(frames, append)
                return self._violate(events, exc.reason)
            if stop != pos:
                _frame_events(frames, append)
                frames.clear()
                pos = stop
                continue
            kind, length, _ = unpack(view, pos)  # what the run could not take: too long, partial or unknown
            if length > max_length:
                return self._violate(events, f"frame length {length} exceeds the maximum {max_length}")
            if end - pos - _HEADER_SIZE < length:
                need = _HEADER_SIZE + length
                break
            return self._violate(events, f"unknown frame kind 0x{kind:02x}")
        self._rx.keep(view, pos, need)
        return events

    def _handshake(self, view: bytes, events: list[Event]) -> int | None:
        pos = 0
        if self.state is State.AWAIT_GREETING:
            if not self._greeting(view, events):
                return None
            self._out += codec.PROTOCOL_GREETING
            pos = codec.GREETING_SIZE
            self.state = State.AWAIT_HANDSHAKE_RESULT
        for state, stage in ((State.AWAIT_HANDSHAKE_RESULT, "handshake"), (State.AWAIT_REGISTRATION, "registration")):
            if self.state is not state:
                continue
            if len(view) - pos < codec.RESULT_SIZE:
                self._wait(view, pos, codec.RESULT_SIZE)
                return None
            (code,) = codec.decode_result(view, pos)
            pos += codec.RESULT_SIZE
            if code != Code.OK:
                self.state = State.CLOSED
                events.append(Refused(code, stage))
                return None
            if state is State.AWAIT_HANDSHAKE_RESULT:
                self._out += self._registration
                self.state = State.AWAIT_REGISTRATION
            else:
                self.state = State.READY
                events.append(Registered())
        return pos

    # --- sending ---------------------------------------------------------------

    def next_op_id(self) -> int:
        """The next operation id: 1, 2, ... 0xFFFFFFFF, then 1 again (as the original clients)."""
        op_id = self._op_id + 1
        if op_id > MAX_OP_ID:
            op_id = 1
        self._op_id = op_id
        return op_id

    def _frame(self, qos: int) -> int:
        if qos not in _QOS_VALUES:
            raise ValueError(f"qos must be 0..3 (elbus QoS), got {qos!r}")
        if self.state is not State.READY:
            raise LocalProtocolError(f"cannot send in state {self.state.value}")
        return self.next_op_id()

    def _fits(self, op_id: int, data: bytes) -> tuple[int, bytes]:
        # The broker drops a client that sends a frame over its limit, without an ack.
        size = len(data) - _CLIENT_HEADER_SIZE
        if size > self.max_frame_length:
            raise FrameTooLarge(size, self.max_frame_length)
        return op_id, data

    def send_message(self, target: str, payload: Payload, qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """A one-to-one MESSAGE frame: returns ``(op_id, bytes)``.

        Every ``send_*`` method raises `ValueError` for an unknown ``qos``,
        `TypeError` for a payload that is neither bytes nor str (a str is sent
        as UTF-8), `FrameTooLarge` for a body over ``max_frame_length`` and
        `LocalProtocolError` before registration or for a NUL in a name.
        """
        op_id = self._frame(qos)
        return self._fits(op_id, codec.encode_message_frame(op_id, qos, target, _payload(payload)))

    def send_broadcast(self, mask: str, payload: Payload, qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """A BROADCAST frame to every client matching ``mask``."""
        op_id = self._frame(qos)
        return self._fits(op_id, codec.encode_broadcast_frame(op_id, qos, mask, _payload(payload)))

    def send_publish(self, topic: str, payload: Payload, qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """A PUBLISH frame to ``topic`` (any topic the wire carries: clients check it with `check_publication_topic`)."""
        op_id = self._frame(qos)
        return self._fits(op_id, codec.encode_publish_frame(op_id, qos, topic, _payload(payload)))

    def send_publish_for(self, topic: str, receiver: str, payload: Payload, qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """A PUBLISH_FOR frame (BUS/RT extension)."""
        op_id = self._frame(qos)
        return self._fits(op_id, codec.encode_publish_for_frame(op_id, qos, topic, receiver, _payload(payload)))

    def send_subscribe(self, topics: Sequence[str], qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """A SUBSCRIBE frame for one or more topic patterns (any the wire carries: clients check them with `check_patterns`)."""
        op_id = self._frame(qos)
        return self._fits(op_id, codec.encode_subscribe_frame(op_id, qos, topics))

    def send_unsubscribe(self, topics: Sequence[str], qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """An UNSUBSCRIBE frame."""
        op_id = self._frame(qos)
        return self._fits(op_id, codec.encode_unsubscribe_frame(op_id, qos, topics))

    def send_exclude(self, topics: Sequence[str], qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """An EXCLUDE frame (BUS/RT extension)."""
        op_id = self._frame(qos)
        return self._fits(op_id, codec.encode_exclude_frame(op_id, qos, topics))

    def send_unexclude(self, topics: Sequence[str], qos: int = QoS.PROCESSED) -> tuple[int, bytes]:
        """An UNEXCLUDE frame (BUS/RT extension)."""
        op_id = self._frame(qos)
        return self._fits(op_id, codec.encode_unexclude_frame(op_id, qos, topics))

    def ping(self) -> bytes:
        """The 9-byte ping frame."""
        if self.state is not State.READY:
            raise LocalProtocolError(f"cannot ping in state {self.state.value}")
        return codec.PING_FRAME


def _payload(payload: Payload) -> bytes | bytearray | memoryview:
    """A payload as bytes: a str is UTF-8; anything else but bytes-like is refused with a clear `TypeError`."""
    if isinstance(payload, bytes | bytearray | memoryview):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    raise TypeError(f"payload must be bytes or str, got {type(payload).__name__}")
