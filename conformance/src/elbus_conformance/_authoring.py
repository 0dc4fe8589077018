"""Write traces from the protocol reference in Python: frames are encoded by the spec's codec, fields labelled like recordings.

A `TraceBuilder` hands out one `Client` per connection; each client method
appends the steps of one protocol exchange, with op ids counted from 1 as
the clients do. Alongside the bytes, API-level operations also append the
client-mode action (``a! send ...``) that makes a client library write
those bytes; a trace that writes raw bytes (malformed frames and the like)
has its actions left out, since no library call produces them.
"""

from __future__ import annotations

from elbus_spec import BROKER_NAME, Code, Kind, codec

from ._model import Close, Closed, Comment, Connect, Do, Expect, Send, Silence, Step, Trace
from ._pattern import Length, Literal, MsgPack, Unit, parse_template
from ._stream import Side, Splitter, dissect

__all__ = ["TraceBuilder", "Client", "AUTHORED"]

AUTHORED = "authored from the protocol reference (not recorded)"


def _labelled(splitter: Splitter, data: bytes) -> tuple[Unit, ...]:
    """``data`` cut into units at the splitter's stage and labelled by field; a cut-short frame is a last unit."""
    splitter.feed(data)
    units: list[Unit] = []
    while (item := splitter.next_unit()) is not None:
        units.append(tuple(Literal(f.data, f.text) for f in dissect(splitter.side, *item)))
    if rest := splitter.take_rest():
        units.append(tuple(Literal(f.data, f.text) for f in dissect(splitter.side, splitter.stage, rest)))
    return tuple(units)


class TraceBuilder:
    """Collects the steps of one authored trace; `build` returns it."""

    def __init__(self, name: str, title: str, group: str, *, tags: tuple[str, ...] = (), varies: tuple[str, ...] = ()) -> None:
        self.name = name
        self.title = title
        self.group = group
        self.tags = tags
        self.varies = varies
        self.steps: list[Step] = []
        self.raw = False

    def comment(self, text: str) -> None:
        self.steps.append(Comment(text))

    def connect(self, conn: str, name: str | None, *, refused: int | None = None, note: str = "") -> Client:
        """Open ``conn`` and, when ``name`` is given, run the handshake and register it.

        ``refused``: the code the broker refuses the name with (then it closes
        the connection). Without a name the trace goes on in raw bytes.
        """
        client = Client(self, conn, name or "")
        if name is None:
            self.raw = True
        else:
            client.do("connect", name, *(("--result", f"{refused:02x}") if refused else ()))
        self.steps.append(Connect(conn, note=note))
        if name is not None:
            client.expect(codec.encode_greeting(1), note="greeting")
            client.write(codec.encode_greeting(1))
            client.expect(codec.RESULT_OK)
            client.write(codec.encode_registration(name), note=f"register {name!r}")
            client.expect(codec.encode_result(refused or Code.OK), note="refused" if refused else "registered")
            if refused:
                client.closed()
        return client

    def build(self) -> Trace:
        """The trace; its client-mode actions are dropped if any write is raw bytes."""
        steps = tuple(s for s in self.steps if not (self.raw and isinstance(s, Do)))
        return Trace(self.name, self.title, self.group, AUTHORED, steps, self.varies, self.tags)


class Client:
    """One connection of a trace being written."""

    def __init__(self, builder: TraceBuilder, conn: str, name: str) -> None:
        self.builder = builder
        self.conn = conn
        self.name = name
        self._op_id = 0
        self._sent = Splitter(Side.CLIENT)
        self._received = Splitter(Side.BROKER)
        self._awaiting: dict[int, Do] = {}

    # --- raw steps -----------------------------------------------------------------

    def do(self, verb: str, *args: str) -> None:
        self.builder.steps.append(Do(self.conn, verb, args))

    def write(self, data: bytes, *, note: str = "", bytewise: bool = False) -> None:
        """The client writes ``data`` (as one write, or one byte per write), as its library would."""
        self.builder.steps.append(Send(self.conn, _labelled(self._sent, data), bytewise, note=note))

    def raw(self, data: bytes, *, note: str = "", bytewise: bool = False) -> None:
        """Bytes no client library would write: the trace cannot run in client mode."""
        self.builder.raw = True
        self.write(data, note=note, bytewise=bytewise)

    def expect(self, data: bytes, *, note: str = "") -> None:
        """The broker sends exactly ``data`` next on this connection."""
        for index, unit in enumerate(_labelled(self._received, data)):
            self.builder.steps.append(Expect(self.conn, (unit,), note=note if index == 0 else ""))

    def expect_unit(self, unit: Unit, *, note: str = "") -> None:
        self.builder.steps.append(Expect(self.conn, (unit,), note=note))

    def nothing(self, *, note: str = "") -> None:
        self.builder.steps.append(Silence(self.conn, note=note))

    def closed(self, *, note: str = "") -> None:
        self.builder.steps.append(Closed(self.conn, note=note))

    def close(self, *, note: str = "") -> None:
        self.do("close")
        self.builder.steps.append(Close(self.conn, note=note))

    # --- operations ------------------------------------------------------------------

    def _op(self, verb: str, args: list[str], qos: int, frame: bytes, note: str) -> int:
        self.do(verb, *args, "--qos", str(qos))
        if qos & 1:
            self._awaiting[self._op_id] = self.builder.steps[-1]  # type: ignore[assignment]
        self.write(frame, note=note)
        return self._op_id

    def _next(self) -> int:
        self._op_id += 1
        return self._op_id

    def message(self, target: str, payload: bytes | str = b"", *, qos: int = 1, note: str = "") -> int:
        op = self._next()
        return self._op("send", [target, _text(payload)], qos, codec.encode_message_frame(op, qos, target, _bytes(payload)), note)

    def broadcast(self, mask: str, payload: bytes | str = b"", *, qos: int = 1, note: str = "") -> int:
        op = self._next()
        return self._op(
            "broadcast", [mask, _text(payload)], qos, codec.encode_broadcast_frame(op, qos, mask, _bytes(payload)), note
        )

    def publish(self, topic: str, payload: bytes | str = b"", *, qos: int = 1, note: str = "") -> int:
        op = self._next()
        return self._op(
            "publish", [topic, _text(payload)], qos, codec.encode_publish_frame(op, qos, topic, _bytes(payload)), note
        )

    def subscribe(self, *topics: str, qos: int = 1, note: str = "") -> int:
        op = self._next()
        return self._op("subscribe", list(topics), qos, codec.encode_subscribe_frame(op, qos, list(topics)), note)

    def unsubscribe(self, *topics: str, qos: int = 1, note: str = "") -> int:
        op = self._next()
        return self._op("unsubscribe", list(topics), qos, codec.encode_unsubscribe_frame(op, qos, list(topics)), note)

    def exclude(self, *topics: str, qos: int = 1, note: str = "") -> int:
        """EXCLUDE (a BUS/RT extension): topic patterns whose publications this client no longer gets."""
        op = self._next()
        return self._op("exclude", list(topics), qos, codec.encode_exclude_frame(op, qos, list(topics)), note)

    def unexclude(self, *topics: str, qos: int = 1, note: str = "") -> int:
        """UNEXCLUDE (a BUS/RT extension): remove exclusions."""
        op = self._next()
        return self._op("unexclude", list(topics), qos, codec.encode_unexclude_frame(op, qos, list(topics)), note)

    def publish_for(self, topic: str, receiver: str, payload: bytes | str = b"", *, qos: int = 1, note: str = "") -> int:
        """PUBLISH_FOR (a BUS/RT extension): a publication for the subscribers whose primary name is ``receiver``."""
        op = self._next()
        frame = codec.encode_publish_for_frame(op, qos, topic, receiver, _bytes(payload))
        return self._op("publish_for", [topic, receiver, _text(payload)], qos, frame, note)

    def call(self, method: str, params: bytes = b"", *, call_id: int | None = None, qos: int = 1, note: str = "") -> int:
        """An RPC request to the broker's core service (raw: it is the RPC layer's job, not the client's)."""
        op = self._next()
        payload = codec.encode_rpc_request(self._op_id if call_id is None else call_id, method, params)
        self.raw(codec.encode_message_frame(op, qos, BROKER_NAME, payload), note=note or f"call {method}")
        return op

    # --- what the broker sends ---------------------------------------------------------

    def ack(self, op_id: int, code: int = Code.OK, *, note: str = "") -> None:
        """The broker acknowledges ``op_id`` with ``code``; in client mode the call's outcome is that code."""
        pending = self._awaiting.pop(op_id, None)
        if pending is not None and code != Code.OK:
            index = self.builder.steps.index(pending)
            self.builder.steps[index] = Do(self.conn, pending.verb, (*pending.args, "--result", f"{code:02x}"))
        self.expect(codec.encode_ack(op_id, code), note=note)

    def got_message(self, sender: str, payload: bytes | str = b"", *, realtime: bool = False, note: str = "") -> None:
        self.do("receive", "message", sender, _text(payload), *(("--realtime",) if realtime else ()))
        self.expect(codec.encode_message_delivery(int(realtime), sender, _bytes(payload)), note=note)

    def got_broadcast(self, sender: str, payload: bytes | str = b"", *, realtime: bool = False, note: str = "") -> None:
        self.do("receive", "broadcast", sender, _text(payload), *(("--realtime",) if realtime else ()))
        self.expect(codec.encode_broadcast_delivery(int(realtime), sender, _bytes(payload)), note=note)

    def got_publication(
        self, sender: str, topic: str, payload: bytes | str = b"", *, realtime: bool = False, note: str = ""
    ) -> None:
        self.do("receive", "publication", sender, topic, _text(payload), *(("--realtime",) if realtime else ()))
        self.expect(codec.encode_publication_delivery(int(realtime), sender, topic, _bytes(payload)), note=note)

    def got_reply(self, call_id: int, template: str, *, realtime: bool = False, note: str = "") -> None:
        """A reply of the core service whose MessagePack result matches ``template``."""
        self.expect_unit(_broker_reply(call_id, MsgPack(parse_template(template)), realtime), note=note)

    def got_announcement(self, topic: str, template: str, *, note: str = "") -> None:
        """A publication by the core service on ``topic`` whose MessagePack payload matches ``template``."""
        name = BROKER_NAME.encode()
        pieces = (Literal(bytes([Kind.PUBLISH])), Length(), Literal(b"\x00"), Literal(name, text=True), Literal(b"\x00"))
        self.expect_unit(
            (*pieces, Literal(topic.encode(), text=True), Literal(b"\x00"), MsgPack(parse_template(template))), note=note
        )

    def got_error(self, call_id: int, code: int, *, realtime: bool = False, note: str = "") -> None:
        """An RPC error reply of the core service with ``code`` and an empty message (as the original sends)."""
        message = codec.encode_rpc_error(call_id, code, b"")
        self.expect(codec.encode_message_delivery(int(realtime), BROKER_NAME, message), note=note)


def _broker_reply(call_id: int, result: MsgPack, realtime: bool) -> Unit:
    head = codec.encode_rpc_reply(call_id, b"")  # the type byte, then the call id
    return (
        Literal(bytes([Kind.MESSAGE])),
        Length(),
        Literal(bytes([realtime])),
        Literal(BROKER_NAME.encode(), text=True),
        Literal(b"\x00"),
        Literal(head[:1]),
        Literal(head[1:]),
        result,
    )


def _bytes(payload: bytes | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else payload


def _text(payload: bytes | str) -> str:
    """The payload as an action argument: printable text as is, anything else as ``hex:...``."""
    data = _bytes(payload)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = "\x00"
    return text if text.isprintable() else "hex:" + data.hex()
