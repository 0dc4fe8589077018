"""The authored traces: the rules of the protocol reference that the recorded captures do not cover.

Each function writes one trace with `TraceBuilder`; `write_authored` turns
them into ``traces/authored/*.trace`` (a test fails if the files are stale).
Client names start with ``t.<trace>.`` so that no two traces share one.
Not authored, because a standalone original broker cannot be made to show
them from a socket: ack ``77`` (needs a target whose queue overflows while
its socket is blocked), ``79`` (needs access control) and the shutdown
announcement (needs the broker to stop).

The BUS/RT extensions (EXCLUDE, UNEXCLUDE, PUBLISH_FOR) are authored from
the protocol reference's section on them, in group ``extensions`` and
tagged `EXTENSION`: the original elbus broker drops a client that sends
them, so only a broker with the extensions plays those traces.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from elbus_spec import Code, RpcErrorCode, codec

from ._authoring import TraceBuilder
from ._format import format_trace
from ._model import Trace

__all__ = ["EXTENSION", "authored_traces", "write_authored"]

#: The tag of the traces that need the BUS/RT extensions in the broker (and the client library).
EXTENSION = "extension"

_LIST_ENTRY = (
    '{{"name": "{name}", "kind": "local_ipc" | "tcp", "source": None | str, "port": str, "r_frames": int, '
    '"r_bytes": int, "w_frames": int, "w_bytes": int, "queue": int, "instances": {instances}}}'
)
_BROKER_ENTRY = (
    '{"name": ".broker", "kind": "internal", "source": None, "port": None, "r_frames": int, '
    '"r_bytes": int, "w_frames": int, "w_bytes": int, "queue": int, "instances": 1}'
)
_ANNOUNCEMENT = '{{"s": "{what}", "d": "{name}", "t": int}}'


def _announcement(name: str, what: str) -> str:
    return _ANNOUNCEMENT.format(what=what, name=name)


def handshake_pipelined() -> Trace:
    t = TraceBuilder(
        "handshake-pipelined", "The greeting echo and the name in one write, then frames right behind them.", "handshake"
    )
    a = t.connect("a", None)
    a.expect(codec.encode_greeting(1), note="greeting")
    a.raw(codec.encode_greeting(1) + codec.encode_registration("t.hp.a"), note="greeting echo and name together")
    a.expect(codec.RESULT_OK * 2, note="handshake result, then registration result")
    b = t.connect("b", None)
    b.expect(codec.encode_greeting(1))
    frame = codec.encode_message_frame(1, 1, "t.hp.a", b"early")
    b.raw(
        codec.encode_greeting(1) + codec.encode_registration("t.hp.b") + frame,
        note="greeting, name and a first frame in one write",
    )
    b.expect(codec.RESULT_OK * 2)
    b.ack(1)
    a.got_message("t.hp.b", "early")
    c = t.connect("c", None)
    c.expect(codec.encode_greeting(1))
    c.raw(
        codec.encode_greeting(1) + codec.encode_registration("t.hp.c"),
        bytewise=True,
        note="handshake trickled one byte at a time",
    )
    c.expect(codec.RESULT_OK * 2)
    for client in (a, b, c):
        client.close()
    return t.build()


def register_name_reuse() -> Trace:
    t = TraceBuilder(
        "register-name-reuse", "A name is free again once its client has left; a refused client leaves no trace.", "handshake"
    )
    a = t.connect("a", "t.rr.x")
    a.close(note="the holder leaves")
    b = t.connect("b", "t.rr.x", note="the same name registers again")
    t.connect("c", "t.rr.x", refused=Code.BUSY, note="taken: 76, then the broker closes")
    b.message("t.rr.x", "still mine", note="the refusal did not disturb the holder")
    b.got_message("t.rr.x", "still mine")
    b.ack(1)
    b.close()
    return t.build()


def message_self_and_payloads() -> Trace:
    t = TraceBuilder("message-self-and-payloads", "Messages to oneself, binary payloads and NULs inside a payload.", "messages")
    a = t.connect("a", "t.ms.a")
    b = t.connect("b", "t.ms.b")
    op = a.message("t.ms.a", "to myself", note="a message to oneself")
    a.got_message("t.ms.a", "to myself", note="delivered first: the ack is queued behind it")
    a.ack(op)
    op = a.message("t.ms.a", "to myself, realtime", qos=3)
    a.got_message("t.ms.a", "to myself, realtime", realtime=True)
    a.ack(op)
    op = a.message("t.ms.b", bytes(range(256)), note="every byte value")
    a.ack(op)
    b.got_message("t.ms.a", bytes(range(256)))
    op = a.message("t.ms.b", b"a\x00b\x00", note="NULs in the payload: only the first NUL of the body separates")
    a.ack(op)
    b.got_message("t.ms.a", b"a\x00b\x00")
    b.message("t.ms.a", qos=2, note="empty payload, realtime, no ack")
    a.got_message("t.ms.b", realtime=True)
    b.nothing(note="QoS 2 has no ack")
    a.close()
    b.close()
    return t.build()


def message_acks_and_refusals() -> Trace:
    t = TraceBuilder(
        "message-acks-and-refusals",
        "Messages at each QoS, pipelined without waiting; ack 71 for an unknown target; names refused with 72 and 71.",
        "messages",
    )
    a = t.connect("a", "t.ma.a")
    b = t.connect("b", "t.ma.b")
    for qos in range(4):
        op = a.message("t.ma.b", f"qos {qos}", qos=qos, note=f"QoS {qos}")
        if qos & 1:
            a.ack(op)
        b.got_message("t.ma.a", f"qos {qos}", realtime=bool(qos & 2))
    ops = [a.message("t.ma.b", f"pipelined {n}", note="three frames before any ack") for n in range(3)]
    for n in range(3):
        b.got_message("t.ma.a", f"pipelined {n}")
    for op in ops:
        a.ack(op, note="acks in the order of the frames")
    a.ack(
        a.message("t.ma.nobody", "x", note="no client of that name"),
        Code.NOT_REGISTERED,
        note="71: the call raises NotRegistered",
    )
    a.message("t.ma.nobody", "x", qos=0, note="QoS 0: silently dropped")
    a.nothing()
    a.ack(a.message("t.ma.b", note="an empty payload"))
    b.got_message("t.ma.a")
    t.connect("dot", ".hidden", refused=Code.DATA, note="names starting with a dot are the broker's: 72")
    t.connect("orphan", "t.ma.none%%1", refused=Code.NOT_REGISTERED, note="a secondary without its primary: 71")
    a.close()
    b.close()
    return t.build()


def broadcast_qos_and_masks() -> Trace:
    t = TraceBuilder(
        "broadcast-qos-and-masks", "Broadcast with each QoS, masks without wildcards, `?` in the middle, `*` alone.", "broadcast"
    )
    x = t.connect("x", "t.bq.g.x")
    y = t.connect("y", "t.bq.h.y")
    s = t.connect("s", "t.bq.s")
    s.broadcast("t.bq.g.x", "exact", qos=0, note="QoS 0, a mask without wildcards: that one client, no ack")
    x.got_broadcast("t.bq.s", "exact")
    s.nothing()
    y.nothing()
    s.broadcast("t.bq.?.y", "middle", qos=2, note="QoS 2: realtime flag, no ack; ? matches one part")
    y.got_broadcast("t.bq.s", "middle", realtime=True)
    x.nothing()
    s.nothing()
    op = s.broadcast("t.bq.?.?", "both", qos=3, note="QoS 3: realtime and acked")
    x.got_broadcast("t.bq.s", "both", realtime=True)
    y.got_broadcast("t.bq.s", "both", realtime=True)
    s.ack(op)
    op = s.broadcast("t.bq.g", "no such client", note="a mask nobody matches is still acknowledged")
    s.ack(op)
    x.nothing()
    op = s.broadcast("t.bq.?", "one part only", note="? matches exactly one part: t.bq.s, not t.bq.g.x")
    s.got_broadcast("t.bq.s", "one part only")
    s.ack(op)
    x.nothing()
    y.nothing()
    op = s.broadcast("*", "everyone", note="* alone reaches every client, the sender included")
    x.got_broadcast("t.bq.s", "everyone")
    y.got_broadcast("t.bq.s", "everyone")
    s.got_broadcast("t.bq.s", "everyone")
    s.ack(op)
    for client in (x, y, s):
        client.close()
    return t.build()


def publish_qos() -> Trace:
    t = TraceBuilder(
        "publish-qos", "Publish, subscribe and unsubscribe with each QoS; the realtime flag on publications.", "pubsub"
    )
    a = t.connect("a", "t.pq.a")
    p = t.connect("p", "t.pq.p")
    a.subscribe("pq/zero", qos=0, note="QoS 0 subscribe: no ack")
    a.nothing()
    op = a.subscribe("pq/three", qos=3, note="QoS 3 subscribe")
    a.ack(op)
    p.publish("pq/zero", "p0", qos=0, note="QoS 0 publish: no ack")
    a.got_publication("t.pq.p", "pq/zero", "p0")
    p.nothing()
    p.publish("pq/three", "p2", qos=2, note="QoS 2: realtime, no ack")
    a.got_publication("t.pq.p", "pq/three", "p2", realtime=True)
    p.nothing()
    op = p.publish("pq/three", "p3", qos=3, note="QoS 3: realtime and acked")
    p.ack(op)
    a.got_publication("t.pq.p", "pq/three", "p3", realtime=True)
    op = p.publish("pq/nobody", "lost", note="nobody subscribed: still acknowledged")
    p.ack(op)
    a.unsubscribe("pq/zero", qos=0, note="QoS 0 unsubscribe")
    a.unsubscribe("pq/three", qos=2, note="QoS 2 unsubscribe: no ack either")
    a.nothing()
    op = p.publish("pq/zero", "after", note="both unsubscribed")
    p.ack(op)
    op = p.publish("pq/three", "after")
    p.ack(op)
    a.nothing()
    a.close()
    p.close()
    return t.build()


def topic_wildcards() -> Trace:
    t = TraceBuilder(
        "topic-wildcards", "`a/#` vs `a`, `+` in the middle, `#` alone, empty levels, leading and trailing slashes.", "pubsub"
    )
    hash_ = t.connect("h", "t.tw.hash")
    plus = t.connect("m", "t.tw.plus")
    empty = t.connect("e", "t.tw.empty")
    every = t.connect("all", "t.tw.all")
    p = t.connect("p", "t.tw.p")
    hash_.ack(hash_.subscribe("tw/#"))
    plus.ack(plus.subscribe("tw/+/x", "+/tw/#"))
    empty.ack(empty.subscribe("tw//+", "/tw", "tw/+/"))
    every.ack(every.subscribe("#"))
    for topic, receivers, note in (
        ("tw", [every], "tw/# does not match tw (unlike MQTT); # matches everything"),
        ("tw/a", [hash_, every], "tw/# matches one more level"),
        ("tw/a/x", [hash_, plus, every], "+ matches one level in the middle"),
        ("tw/a/b/x", [hash_, every], "+ does not match two levels"),
        ("q/tw/a/b", [plus, every], "+/tw/# with a first level and two more"),
        ("q/tw", [every], "+/tw/# needs at least one level after tw"),
        ("tw//x", [hash_, plus, empty, every], "an empty level is a level: + matches it"),
        ("/tw", [empty, every], "a leading slash makes an empty first level"),
        ("tw/a/", [hash_, empty, every], "a trailing slash makes an empty last level"),
    ):
        op = p.publish(topic, topic, note=f"publish {topic!r}: {note}")
        p.ack(op)
        for receiver in receivers:
            receiver.got_publication("t.tw.p", topic, topic)
    t.comment("a delivery to the wrong client would surface at its next expectation or before the closes")
    for client in (hash_, plus, empty, every, p):
        client.close()
    return t.build()


def overlapping_subscriptions() -> Trace:
    t = TraceBuilder(
        "overlapping-subscriptions", "Several subscriptions matching one topic deliver it once, until the last is gone.", "pubsub"
    )
    a = t.connect("a", "t.os.a")
    p = t.connect("p", "t.os.p")
    a.ack(a.subscribe("os/#"))
    a.ack(a.subscribe("os/+"))
    a.ack(a.subscribe("os/x", "os/x"), note="the same pattern twice in one frame")
    a.ack(a.subscribe("os/x"), note="and again")
    p.ack(p.publish("os/x", "once"))
    a.got_publication("t.os.p", "os/x", "once", note="four matching subscriptions, one delivery")
    a.ack(a.unsubscribe("os/x"), note="unsubscribing a pattern removes it however often it was subscribed")
    p.ack(p.publish("os/x", "still once"))
    a.got_publication("t.os.p", "os/x", "still once", note="os/# and os/+ still match")
    a.ack(a.unsubscribe("os/#", "os/+"), note="two patterns in one frame")
    p.ack(p.publish("os/x", "gone"))
    a.nothing()
    a.close()
    p.close()
    return t.build()


def secondaries_routing() -> Trace:
    t = TraceBuilder(
        "secondaries-routing",
        "Secondaries have their own names, queues and subscriptions; a taken secondary name is busy.",
        "secondaries",
    )
    p = t.connect("p", "t.sr.p")
    s = t.connect("s", "t.sr.p%%1")
    q = t.connect("q", "t.sr.q")
    t.connect("dup", "t.sr.p%%1", refused=Code.BUSY, note="a secondary name already registered: 76")
    q.ack(q.message("t.sr.p", "to the primary"), note="the primary's name reaches the primary only")
    p.got_message("t.sr.q", "to the primary")
    s.nothing()
    s.ack(s.subscribe("sr/topic"))
    q.ack(q.publish("sr/topic", "for subscribers"))
    s.got_publication("t.sr.q", "sr/topic", "for subscribers", note="the secondary's own subscription")
    p.nothing(note="the primary did not subscribe")
    op = s.broadcast("t.sr.?", "from a secondary", note="? matches the whole last part, %% and all")
    p.got_broadcast("t.sr.p%%1", "from a secondary")
    q.got_broadcast("t.sr.p%%1", "from a secondary")
    s.got_broadcast("t.sr.p%%1", "from a secondary")
    s.ack(op)
    for client in (s, q, p):
        client.close()
    return t.build()


def broker_rpc_params() -> Trace:
    t = TraceBuilder(
        "broker-rpc-params",
        "The core service: params of each method, call0 of an unknown method, QoS 0 requests, empty echo.",
        "broker-rpc",
        varies=(
            "stats: every counter value and uptime",
            "client.list: counters and queue; source and port depend on the listener",
        ),
    )
    a = t.connect("a", "t.br.a")
    op = a.call("stats", b"\x80", note="an empty map is no params")
    a.ack(op)
    a.got_reply(op, '{"uptime": int, "r_frames": int, "r_bytes": int, "w_frames": int, "w_bytes": int}')
    op = a.call("info", b"\x81\xa1x\x01", note="a non-empty map for a method without params")
    a.ack(op)
    a.got_error(op, RpcErrorCode.INVALID_PARAMS, note="-32602")
    op = a.call("client.list", qos=0, note="QoS 0: no ack, the reply still comes")
    a.got_reply(op, '{"clients": [' + _BROKER_ENTRY + ", " + _LIST_ENTRY.format(name="t.br.a", instances=1) + "]}")
    op = a.call("benchmark.test", note="nothing to echo")
    a.ack(op)
    a.expect(codec.encode_message_delivery(0, ".broker", codec.encode_rpc_reply(op, b"")), note="a reply with an empty result")
    op = a.call("no.such.method", call_id=0, note="call0 of an unknown method: no error reply either")
    a.ack(op)
    a.nothing()
    op = a.call("test", qos=2, note="realtime without ack: the reply is flagged realtime")
    a.got_reply(op, '{"ok": True}', realtime=True)
    a.close()
    return t.build()


def announcements_wildcards() -> Trace:
    t = TraceBuilder(
        "announcements-more",
        "Announcements through a wildcard; a client dropped for a protocol error is announced, a refused one is not.",
        "announcements",
        varies=("the t field (unix time in ns) of every announcement",),
    )
    w = t.connect("w", "t.am.w")
    w.ack(w.subscribe(".broker/+"))
    x = t.connect("x", "t.am.x")
    w.got_announcement(".broker/info", _announcement("t.am.x", "reg"), note="reg, through .broker/+")
    t.connect("dup", "t.am.x", refused=Code.BUSY, note="a name in use")
    w.nothing(note="a refused registration is not announced")
    x.raw(codec.encode_client_header(1, 1, 0x12, 5) + b"nonul", note="a protocol error (message body without NUL)")
    x.closed()
    w.got_announcement(".broker/info", _announcement("t.am.x", "unreg"), note="the dropped client is announced as gone")
    w.close()
    return t.build()


def ping() -> Trace:
    t = TraceBuilder("ping", "Client pings anywhere between frames: never answered, never in the way.", "ping")
    a = t.connect("a", "t.pg.a")
    a.raw(codec.encode_client_header(0, 0, 0, 0) * 3, note="three pings in one write")
    a.nothing(note="a ping is never answered")
    frame = codec.encode_message_frame(1, 1, "t.pg.a", b"between pings")
    a.raw(bytes(9) + frame + bytes(9), note="a frame between two pings in one write")
    a.got_message("t.pg.a", "between pings")
    a.ack(1)
    a.raw(bytes.fromhex("ffffffff00ffffffff"), note="a ping whose other header bytes announce a 4 GiB body: no body is read")
    frame = codec.encode_message_frame(2, 1, "t.pg.a", b"after")
    a.raw(frame, note="so the next bytes are a frame")
    a.got_message("t.pg.a", "after")
    a.ack(2)
    a.close()
    return t.build()


def protocol_errors_more() -> Trace:
    t = TraceBuilder(
        "protocol-errors-more", "More malformed frames; each drops only its sender, whose name is free again.", "protocol-errors"
    )
    ok = t.connect("ok", "t.pm.ok")
    for conn, data, note in (
        ("a", codec.encode_client_header(1, 1, 0x13, 4) + b"mask", "broadcast without NUL"),
        ("b", codec.encode_client_header(1, 1, 0x07, 0), "unknown op 0x07 with an empty body"),
        ("c", codec.encode_client_header(1, 3, 0x3F, 1) + b"x", "unknown op 0x3f with QoS 3"),
        ("d", codec.encode_client_header(1, 1, 0x01, 4) + b"\xff\xfe\x00x", "publish to a topic that is not UTF-8"),
    ):
        client = t.connect(conn, f"t.pm.{conn}")
        client.raw(data, note=note)
        client.closed()
    again = t.connect("again", "t.pm.a", note="a dropped client's name is free again")
    ok.ack(ok.message("t.pm.a", "still routed"), note="the well-behaved client is unaffected")
    again.got_message("t.pm.ok", "still routed")
    ok.close()
    again.close()
    return t.build()


def handshake_timeouts() -> Trace:
    t = TraceBuilder(
        "handshake-timeouts",
        "Each handshake step is bounded by the broker's timeout; a frame left half-written is too.",
        "timeouts",
        tags=("slow",),
    )
    silent = t.connect("silent", None)
    silent.expect(codec.encode_greeting(1), note="greeting, then the client says nothing")
    half = t.connect("half", None)
    half.expect(codec.encode_greeting(1))
    half.write(codec.encode_greeting(1))
    half.expect(codec.RESULT_OK, note="handshake result, then the client never sends its name")
    partial = t.connect("partial", None)
    partial.expect(codec.encode_greeting(1))
    partial.write(codec.encode_greeting(1))
    partial.expect(codec.RESULT_OK)
    partial.raw(b"\x08\x00t.", note="half a name")
    header = t.connect("header", "t.ht.h")
    header.raw(codec.encode_client_header(1, 1, 0x12, 5)[:5], note="half a frame header")
    silent.closed(note="each dropped after the timeout")
    half.closed()
    partial.closed()
    header.closed()
    return t.build()


def exclusions() -> Trace:
    t = TraceBuilder(
        "exclusions",
        "EXCLUDE and UNEXCLUDE: a client's exclusion patterns win over its subscriptions, for publications only.",
        "extensions",
        tags=(EXTENSION,),
    )
    a = t.connect("a", "t.ex.a")
    p = t.connect("p", "t.ex.p")
    a.ack(a.subscribe("ex/#", "ex/exact"))
    a.ack(a.exclude("ex/secret/#"), note="exclusions are topic patterns, as subscriptions")
    p.ack(p.publish("ex/open", "seen"))
    a.got_publication("t.ex.p", "ex/open", "seen", note="not excluded")
    p.ack(p.publish("ex/secret/x", "hidden"))
    a.nothing(note="ex/# matches, but so does the exclusion ex/secret/#: not delivered")
    p.ack(p.publish("ex/secret", "seen too"))
    a.got_publication("t.ex.p", "ex/secret", "seen too", note="ex/secret/# does not match ex/secret, as for subscriptions")
    a.ack(a.exclude("ex/exact", "ex/+/deep"), note="two patterns in one frame")
    p.ack(p.publish("ex/exact", "hidden"))
    a.nothing(note="an exclusion wins over an exact subscription too")
    a.exclude("ex/open", qos=0, note="QoS 0: no ack")
    a.nothing()
    p.ack(p.publish("ex/open", "hidden"))
    a.nothing()
    a.ack(a.unexclude("ex/secret/#", "ex/open"), note="UNEXCLUDE removes patterns, as UNSUBSCRIBE does")
    p.ack(p.publish("ex/secret/x", "back"))
    a.got_publication("t.ex.p", "ex/secret/x", "back")
    p.ack(p.publish("ex/open", "back"))
    a.got_publication("t.ex.p", "ex/open", "back")
    a.ack(a.exclude("#"), note="everything excluded, even the subscriptions' topics")
    p.ack(p.publish("ex/open", "hidden"))
    a.nothing()
    p.ack(p.message("t.ex.a", "a message"), note="exclusions filter publications only")
    a.got_message("t.ex.p", "a message")
    op = p.broadcast("t.ex.*", "a broadcast")
    a.got_broadcast("t.ex.p", "a broadcast")
    p.got_broadcast("t.ex.p", "a broadcast")
    p.ack(op)
    p.ack(p.exclude("ex/#"), note="excluding without any subscription is harmless")
    p.ack(p.unexclude("never/excluded"), note="removing an exclusion never made is acknowledged too")
    a.ack(a.unexclude("#", "ex/exact", "ex/+/deep"))
    p.ack(p.publish("ex/exact", "both match"))
    a.got_publication("t.ex.p", "ex/exact", "both match", note="delivered once, as before the exclusions")
    a.close()
    p.close()
    return t.build()


def publish_for() -> Trace:
    t = TraceBuilder(
        "publish-for",
        "PUBLISH_FOR: a publication for the named receiver (its primary and secondaries), if subscribed and not excluded.",
        "extensions",
        tags=(EXTENSION,),
    )
    r = t.connect("r", "t.pf.r")
    s = t.connect("s", "t.pf.r%%2")
    o = t.connect("o", "t.pf.o")
    p = t.connect("p", "t.pf.p")
    for client in (r, s, o):
        client.ack(client.subscribe("pf/#"))
    p.ack(p.publish_for("pf/x", "t.pf.r", "for r"), note="acknowledged 01 as a publication")
    r.got_publication("t.pf.p", "pf/x", "for r", note="an ordinary publication: sender, topic, payload")
    s.got_publication("t.pf.p", "pf/x", "for r", note="a secondary's primary name is the receiver's: it gets it too")
    o.nothing(note="another subscriber does not")
    op = p.publish_for("pf/x", "t.pf.o", "for o", qos=3, note="QoS 3: realtime and acked")
    o.got_publication("t.pf.p", "pf/x", "for o", realtime=True)
    p.ack(op)
    r.nothing()
    s.nothing()
    p.publish_for("pf/x", "t.pf.o", "qos 0", qos=0, note="QoS 0: no ack")
    o.got_publication("t.pf.p", "pf/x", "qos 0")
    p.nothing()
    p.ack(p.publish_for("other/x", "t.pf.r", "unsubscribed"), note="the receiver is not subscribed to the topic")
    p.ack(p.publish_for("pf/x", "t.pf.nobody", "nobody"), note="no such receiver: still 01 (not 71)")
    p.ack(p.publish_for("pf/x", "t.pf.r%%2", "by full name"), note="a secondary's own name is no primary name: nobody")
    r.nothing()
    s.nothing()
    o.nothing()
    r.ack(r.exclude("pf/x"))
    p.ack(p.publish_for("pf/x", "t.pf.r", "excluded"))
    s.got_publication("t.pf.p", "pf/x", "excluded", note="the primary excluded the topic, its secondary did not")
    r.nothing()
    p.ack(p.subscribe("pf/#"))
    op = p.publish_for("pf/y", "t.pf.p", "to myself")
    p.got_publication("t.pf.p", "pf/y", "to myself", note="a client may name itself: the publication comes before the ack")
    p.ack(op)
    for client in (r, s, o, p):
        client.close()
    return t.build()


_AUTHORS: list[Callable[[], Trace]] = [
    handshake_pipelined,
    register_name_reuse,
    handshake_timeouts,
    message_self_and_payloads,
    message_acks_and_refusals,
    broadcast_qos_and_masks,
    publish_qos,
    topic_wildcards,
    overlapping_subscriptions,
    secondaries_routing,
    broker_rpc_params,
    announcements_wildcards,
    ping,
    protocol_errors_more,
    exclusions,
    publish_for,
]


def authored_traces() -> list[Trace]:
    """Every authored trace, freshly built."""
    return [author() for author in _AUTHORS]


def write_authored(directory: Path) -> list[Path]:
    """Write ``directory/NAME.trace`` for every authored trace; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for trace in authored_traces():
        path = directory / f"{trace.name}.trace"
        path.write_text(format_trace(trace), encoding="utf-8")
        written.append(path)
    return written
