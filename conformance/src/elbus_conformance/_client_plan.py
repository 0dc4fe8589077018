"""How client mode plays a trace: which connections a client library drives and which a raw socket plays.

Client mode needs a client library to write the trace's client bytes. A
trace written with ``a! ...`` actions says what the library is asked to do;
for every other connection the actions are derived from the client bytes
themselves, without any I/O:

- the greeting echo, then the name in a write of its own: ``connect NAME``
  (``--result`` the broker's registration result);
- each frame, parsed as the broker parses it (`elbus_spec.BrokerConnection`):
  MESSAGE, BROADCAST, PUBLISH, SUBSCRIBE and UNSUBSCRIBE (and the BUS/RT
  EXCLUDE, UNEXCLUDE and PUBLISH_FOR) become the library call with the frame's QoS, target or topics and payload; the outcome the
  call must report is the trace's ack code for that op id;
- pings are left out (a library pings on its own schedule; the player skips
  pings the trace does not write);
- every message, broadcast or publication the broker sends must come out of
  the library as the same frame (`Receive`);
- ``a closes``: the library closes.

Op ids are renumbered per connection in order of first use, 1, 2, ..., as
client libraries count; the ack frames of the broker side follow. The bytes
the library writes are still compared whole, op id and flags included, so a
library that reuses an op id or writes the wrong QoS bits still fails.

A connection whose client side holds anything a library cannot write (a
wrong greeting, a name that is not UTF-8, the handshake pipelined into one
write or left unfinished, a malformed or unfinished frame, an op id used
twice, an acknowledged operation whose ack the trace does not show) is
played whole by a raw socket, as broker mode plays it: a library cannot be
made to write a chosen byte in the middle of its own connection. A trace
with no connection left to the library is broker-only, for the reason of
its first raw connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from elbus_spec import BrokerConnection, Code, Kind, ProtocolError, ProtocolViolation
from elbus_spec import codec as spec_codec
from elbus_spec.events import (
    BroadcastRequest,
    ExcludeRequest,
    MessageRequest,
    Ping,
    PublishForRequest,
    PublishRequest,
    Request,
    SubscribeRequest,
    UnexcludeRequest,
    UnsubscribeRequest,
)

from ._model import Close, Comment, Connect, Do, Expect, Send, Step, Trace
from ._pattern import Literal, Unit, example
from ._stream import Side, Stage, dissect

__all__ = ["Receive", "ClientPlan", "plan_client_trace"]

_GREETING_ECHO = spec_codec.PROTOCOL_GREETING
# Units of the handshake: the greeting echo and the name from the client; greeting and two results from the broker.
_HANDSHAKE_UNITS = {Send: 2, Expect: 3}
_DELIVERIES = (Kind.MESSAGE, Kind.BROADCAST, Kind.PUBLISH)
_VERBS = {
    MessageRequest: "send",
    BroadcastRequest: "broadcast",
    PublishRequest: "publish",
    SubscribeRequest: "subscribe",
    UnsubscribeRequest: "unsubscribe",
    ExcludeRequest: "exclude",
    UnexcludeRequest: "unexclude",
    PublishForRequest: "publish_for",
}


@dataclass(frozen=True, slots=True)
class Receive:
    """A derived step: the library hands over the frame the broker sent as ``unit`` (compared re-encoded, as bytes)."""

    conn: str
    unit: Unit
    line: int = field(default=0, kw_only=True, compare=False)


PlanStep = Step | Receive


@dataclass(frozen=True, slots=True)
class ClientPlan:
    """A trace as client mode plays it.

    ``trace`` is what the player plays (the client-mode form: op ids
    renumbered, pings left out, actions added); ``steps`` is what the client
    side does, in order: the library's actions and receives, and every step
    of the ``raw`` connections (connection -> why). ``reason`` is set when
    the trace is broker-only.
    """

    trace: Trace
    steps: tuple[PlanStep, ...]
    raw: dict[str, str]
    raw_steps: int
    reason: str = ""

    @property
    def status(self) -> str:
        """``ran``, ``ran (n raw steps)`` or ``broker-only: <reason>``."""
        if self.reason:
            return f"broker-only: {self.reason}"
        return f"ran ({self.raw_steps} raw steps)" if self.raw_steps else "ran"


class _Raw(Exception):
    """A connection's client side holds something no client library writes; the message says what."""


@dataclass
class _Conn:
    """What the derivation learnt of one library connection."""

    name: str = ""
    result: int = Code.OK
    op_ids: dict[int, int] = field(default_factory=dict)  # trace op id -> the library's op id
    acks: dict[int, int] = field(default_factory=dict)  # trace op id -> ack code
    # (index of the step in the trace, index of the unit in the step) -> (request, frame bytes with the op id renumbered)
    requests: dict[tuple[int, int], tuple[Request, bytes]] = field(default_factory=dict)


def _data(unit: Unit) -> bytes:
    return b"".join(piece.data for piece in unit if isinstance(piece, Literal))


def _frame_unit(data: bytes) -> Unit:
    """Client frame bytes as a unit of one literal per protocol field (so a mismatch names its field)."""
    return tuple(Literal(f.data, text=f.text) for f in dissect(Side.CLIENT, Stage.FRAMES, data))


def _is_ack(unit: Unit) -> bool:
    data = example(unit)
    return len(data) == 6 and data[0] == Kind.ACK


def _conn_steps(trace: Trace, conn: str) -> list[tuple[int, Step]]:
    """The steps of one connection, each with its index in the trace."""
    return [(i, s) for i, s in enumerate(trace.steps) if not isinstance(s, Comment) and s.conn == conn]


def _handshake(steps: list[Step]) -> tuple[str, int, int]:
    """The registered name, the registration result and the index of the first step after it; raises _Raw."""
    sends = [(i, s) for i, s in enumerate(steps) if isinstance(s, Send)]
    if not sends:
        raise _Raw("the handshake is left unfinished")
    if _data(sends[0][1].units[0]) != _GREETING_ECHO:
        raise _Raw("a greeting no client writes")
    if len(sends[0][1].units) > 1:
        raise _Raw("the greeting echo and the name in one write (a client waits for the handshake result)")
    if len(sends) < 2:
        raise _Raw("the handshake is left unfinished")
    index, step = sends[1]
    if len(step.units) > 1:
        raise _Raw("frames in the write of the name (a client waits for the registration result)")
    try:
        (name,) = spec_codec.decode_registration(bytearray(step.data))
        spec_codec.encode_registration(name)
    except ProtocolError as exc:
        raise _Raw(f"a name no client registers ({exc})") from None
    results = [s for s in steps[index:] if isinstance(s, Expect)]
    if not results:
        raise _Raw("the handshake is left unfinished")
    return name, example(results[0].units[0])[0], index + 1


def _derive(indexed: list[tuple[int, Step]]) -> _Conn:
    """What a library does on one connection; raises _Raw when it cannot write what the trace says."""
    name, result, start = _handshake([step for _, step in indexed])
    conn = _Conn(name, result)
    parser = BrokerConnection()
    parser.receive_data(_GREETING_ECHO + spec_codec.encode_registration(name))
    parser.data_to_send()
    parser.accept()
    for position, step in indexed[start:]:
        if isinstance(step, Expect):
            for unit in step.units:
                if _is_ack(unit):
                    data = example(unit)
                    conn.acks.setdefault(*spec_codec.unpack_ack_from(data, 0))
            continue
        if not isinstance(step, Send):
            continue
        if result != Code.OK:
            raise _Raw("writes after a refused registration")
        for unit_index, unit in enumerate(step.units):
            events = parser.receive_data(_data(unit))
            if not events:
                raise _Raw("a frame left unfinished")
            (event,) = events
            if isinstance(event, ProtocolViolation):
                raise _Raw(f"a malformed frame ({event.reason})")
            if isinstance(event, Ping):
                continue
            if not isinstance(event, Request) or type(event) not in _VERBS:
                raise _Raw(f"no client action writes {type(event).__name__}")
            op_id = event.op_id
            if op_id in conn.op_ids:
                raise _Raw(f"op id {op_id:08x} used twice on one connection (a client numbers every operation anew)")
            conn.op_ids[op_id] = len(conn.op_ids) + 1
            conn.requests[position, unit_index] = (event, _renumbered_frame(_data(unit), conn.op_ids[op_id]))
    for request, _ in conn.requests.values():
        if request.needs_ack and request.op_id not in conn.acks:
            raise _Raw(f"no ack shown for op id {request.op_id:08x}")
    return conn


def _payload_word(payload: bytes) -> str:
    """A payload as an action argument: the text itself when printable, else ``hex:...``."""
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return f"hex:{payload.hex()}"
    return text if (text.isprintable() or not text) and not text.startswith("hex:") else f"hex:{payload.hex()}"


def _action(conn: str, request: Request, acks: dict[int, int], line: int) -> Do:
    verb = _VERBS[type(request)]
    if isinstance(request, MessageRequest):
        args = [request.target, _payload_word(bytes(request.payload))]
    elif isinstance(request, BroadcastRequest):
        args = [request.mask, _payload_word(bytes(request.payload))]
    elif isinstance(request, PublishRequest):
        args = [request.topic, _payload_word(bytes(request.payload))]
    elif isinstance(request, PublishForRequest):
        args = [request.topic, request.receiver, _payload_word(bytes(request.payload))]
    elif isinstance(request, SubscribeRequest | UnsubscribeRequest | ExcludeRequest | UnexcludeRequest):
        args = list(request.topics)
    else:
        raise TypeError(f"no client action for {request!r}")  # _derive keeps only the requests of _VERBS
    op_id, qos = request.op_id, request.qos
    args += ["--qos", str(qos)]
    if request.needs_ack and acks[op_id] != Code.OK:
        args += ["--result", f"{acks[op_id]:02x}"]
    return Do(conn, verb, tuple(args), line=line)


def _connect_action(conn: str, info: _Conn, line: int) -> Do:
    args = [info.name] + (["--result", f"{info.result:02x}"] if info.result != Code.OK else [])
    return Do(conn, "connect", tuple(args), line=line)


def _renumbered(unit: Unit, info: _Conn) -> Unit:
    op_id, code = spec_codec.unpack_ack_from(example(unit), 0)
    new = info.op_ids.get(op_id)
    if new is None:
        return unit
    return tuple(Literal(f.data) for f in dissect(Side.BROKER, Stage.FRAMES, spec_codec.pack_ack(new, code)))


def _renumbered_frame(frame: bytes, op_id: int) -> bytes:
    """A client frame with its op id replaced."""
    _, flags, length = spec_codec.CLIENT_HEADER.unpack_from(frame)
    return spec_codec.CLIENT_HEADER.pack(op_id, flags, length) + frame[spec_codec.CLIENT_HEADER_SIZE :]


def _is_delivery(unit: Unit) -> bool:
    first = unit[0]
    return isinstance(first, Literal) and len(first.data) >= 1 and first.data[0] in _DELIVERIES


def _library_steps(position: int, step: Step, info: _Conn, handshake_done: bool) -> tuple[list[Step], list[PlanStep]]:
    """One step of a library connection: (what the player plays, what the client side does)."""
    if isinstance(step, Connect):
        action = _connect_action(step.conn, info, step.line)
        return [action, step], [action]
    if isinstance(step, Close):
        action = Do(step.conn, "close", (), line=step.line)
        return [action, step], [action]
    if isinstance(step, Send) and handshake_done:
        actions: list[Step] = []
        frames: list[Unit] = []
        for unit_index in range(len(step.units)):
            if (position, unit_index) in info.requests:  # anything else is a ping: the library pings on its own schedule
                request, data = info.requests[position, unit_index]
                actions.append(_action(step.conn, request, info.acks, step.line))
                frames.append(_frame_unit(data))
        if frames:
            actions.append(Send(step.conn, tuple(frames), note=step.note, line=step.line))
        return actions, [a for a in actions if isinstance(a, Do)]
    if isinstance(step, Expect) and handshake_done:
        expected = tuple(_renumbered(u, info) if _is_ack(u) else u for u in step.units)
        receives: list[PlanStep] = [Receive(step.conn, u, line=step.line) for u in expected if _is_delivery(u)]
        return [Expect(step.conn, expected, note=step.note, line=step.line)], receives
    return [step], []


def plan_client_trace(trace: Trace) -> ClientPlan:
    """How client mode plays ``trace`` (see the module docstring for the rules); never raises for a trace's content."""
    conns = list(dict.fromkeys(s.conn for s in trace.steps if isinstance(s, Connect)))
    explicit = {s.conn for s in trace.steps if isinstance(s, Do)}
    library: dict[str, _Conn] = {}
    raw: dict[str, str] = {}
    for conn in conns:
        if conn in explicit:
            continue
        try:
            library[conn] = _derive(_conn_steps(trace, conn))
        except _Raw as exc:
            raw[conn] = str(exc)
    played: list[Step] = []
    side: list[PlanStep] = []
    units_seen: dict[tuple[str, type], int] = {}  # handshake units seen per library connection and direction
    raw_steps = 0
    for position, step in enumerate(trace.steps):
        if isinstance(step, Comment):
            played.append(step)
        elif step.conn in raw:
            played.append(step)
            side.append(step)
            raw_steps += 1
        elif step.conn in library:
            key = (step.conn, type(step))
            seen = units_seen.get(key, 0)
            done = seen >= _HANDSHAKE_UNITS[type(step)] if isinstance(step, Send | Expect) else True
            for_player, for_side = _library_steps(position, step, library[step.conn], done)
            played += for_player
            side += for_side
            if isinstance(step, Send | Expect) and not done:
                units_seen[key] = seen + len(step.units)
        else:
            played.append(step)
            if isinstance(step, Do):
                side.append(step)
    client_form = Trace(trace.name, trace.title, trace.group, trace.provenance, tuple(played), trace.varies, trace.tags)
    reason = ""
    if not explicit and len(raw) == len(conns):
        reason = next(iter(raw.values()), "no connections")
    return ClientPlan(client_form, tuple(side), raw, raw_steps, reason)


