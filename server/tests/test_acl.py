"""Access control: rule matching, TOML loading, and every rule kind enforced by a live broker over real sockets."""

from __future__ import annotations

import asyncio
import ipaddress
import struct
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from raw_client import RawClient, Running
from reliability_helpers import elbusd_command, free_port

from elbus_server import Acl, AclError, Rule, load_acl
from elbus_server._acl import name_matches, topic_matches
from elbus_spec import Refused, codec

Connect = Callable[[str, str], Awaitable[RawClient]]
MakeBroker = Callable[..., Awaitable[Running]]


def ack(op_id: int, code: int) -> bytes:
    return struct.pack("<BLB", 0xFE, op_id, code)


def acl(*rules: Rule) -> Acl:
    return Acl(rules)


# --- matching -------------------------------------------------------------------------------


def test_name_masks() -> None:
    assert name_matches("*", "anything.at.all")
    assert name_matches("a.*", "a.b") and name_matches("a.*", "a.b.c") and not name_matches("a.*", "a")
    assert name_matches("a.?.c", "a.x.c") and not name_matches("a.?.c", "a.x.y.c")
    assert name_matches("exact", "exact") and not name_matches("exact", "exact.more") and not name_matches("exact.more", "exact")
    assert name_matches("s.*", "s.*") and not name_matches("s.?", "s.*")  # broadcast masks checked as text


def test_topic_masks() -> None:
    assert topic_matches("#", "a/b") and topic_matches("a/#", "a") and topic_matches("a/#", "a/b/c")
    assert topic_matches("a/+/c", "a/b/c") and not topic_matches("a/+/c", "a/b/d") and not topic_matches("a/+", "a/b/c")
    assert topic_matches("a/#", "a/#") and not topic_matches("a/+", "a/#")  # subscription patterns checked as text


def test_resolve_first_admitting_rule_and_sources() -> None:
    tcp_only = Rule("svc", networks=(ipaddress.ip_network("10.0.0.0/8"),), unix=False, publish=("x",))
    local = Rule("svc", publish=("y",))
    a = acl(tcp_only, local)
    p = a.resolve("svc", "10.1.2.3")
    assert p is not None and p.rule is tcp_only
    p = a.resolve("svc", "127.0.0.1")
    assert p is not None and p.rule is local
    p = a.resolve("svc", None)  # UNIX socket: tcp_only has unix = false
    assert p is not None and p.rule is local
    assert a.resolve("other", None) is None  # no rule: refused
    assert acl(Rule("svc", unix=False)).resolve("svc", None) is None
    assert acl(Rule("svc", networks=(ipaddress.ip_network("127.0.0.0/8"),))).resolve("svc", "::ffff:127.0.0.1") is not None
    p = acl(Rule("app")).resolve("app%%2", None)  # a secondary takes its primary's rule
    assert p is not None


# --- TOML ---------------------------------------------------------------------------------------

EXAMPLE = """
[[client]]
name = "sensor.*"
networks = ["127.0.0.0/8", "::1/128"]
unix = true
message = ["controller", ".broker"]
broadcast = ["sensor.*"]
publish = ["sensors/#"]
subscribe = ["commands/+"]

[[client]]
name = "controller"
message = ["*"]
publish = ["#"]
subscribe = ["#"]
broadcast = ["*"]
"""


def test_load_toml(tmp_path: Path) -> None:
    f = tmp_path / "acl.toml"
    f.write_text(EXAMPLE)
    a = load_acl(f)
    assert [r.name for r in a.rules] == ["sensor.*", "controller"]
    r = a.rules[0]
    assert r.networks == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert r.message == ("controller", ".broker") and r.publish == ("sensors/#",) and r.subscribe == ("commands/+",)
    assert a.rules[1].networks is None and a.rules[1].unix


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[[client]\n", "invalid TOML"),
        ("[[client]]\nmessage = []\n", "'name' (a name mask) is required"),
        ("[[client]]\nname = 'a'\nnetworks = ['300.0.0.0/8']\n", "bad network"),
        ("[[client]]\nname = 'a'\npublish = 'x'\n", "'publish' must be a list"),
        ("[[client]]\nname = 'a'\nunix = 1\n", "'unix' must be true or false"),
        ("[[client]]\nname = 'a'\nsubscibe = ['x']\n", "unknown key(s): subscibe"),
        ("[rules]\n", "unknown top-level key(s): rules"),
    ],
)
def test_load_toml_errors(tmp_path: Path, text: str, reason: str) -> None:
    f = tmp_path / "acl.toml"
    f.write_text(text)
    with pytest.raises(AclError, match=r"acl\.toml") as info:
        load_acl(f)
    assert reason in str(info.value)


# --- a live broker ------------------------------------------------------------------------------------


async def refused(where: str, name: str, raw_clients: list[RawClient]) -> tuple[Refused | None, bool]:
    client = await RawClient.open(where)
    raw_clients.append(client)
    result = await client.handshake(name)
    assert result is None or isinstance(result, Refused), result
    return result, await client.closed()


async def test_open_by_default(running: Running, connect: Connect) -> None:
    assert running.broker.acl is None
    a = await connect(running.path, "anyone")
    await connect(running.tcp, "b")
    a.write(codec.encode_message_frame(1, 1, "b", b"x"))
    assert await a.frame() == ack(1, 1)


async def test_registration_denied_by_name(make_broker: MakeBroker, connect: Connect, raw_clients: list[RawClient]) -> None:
    running = await make_broker(acl=acl(Rule("good.*")))
    await connect(running.path, "good.one")
    for where in (running.path, running.tcp):
        result, closed = await refused(where, "bad", raw_clients)
        assert result is not None and result.code == 0x79 and closed
    assert "bad" not in running.broker.clients


async def test_reserved_dot_names_refused_even_when_allowed(make_broker: MakeBroker, raw_clients: list[RawClient]) -> None:
    running = await make_broker(acl=acl(Rule("*")))
    result, closed = await refused(running.path, ".fake", raw_clients)
    assert result is not None and result.code == 0x72 and closed


async def test_registration_denied_by_source(make_broker: MakeBroker, connect: Connect, raw_clients: list[RawClient]) -> None:
    elsewhere = (ipaddress.ip_network("10.0.0.0/8"),)
    loopback = (ipaddress.ip_network("127.0.0.0/8"),)
    running = await make_broker(acl=acl(Rule("c", networks=elsewhere, unix=False), Rule("local", networks=loopback, unix=False)))
    result, closed = await refused(running.tcp, "c", raw_clients)  # 127.0.0.1 is not in 10/8
    assert result is not None and result.code == 0x79 and closed
    await connect(running.tcp, "local")  # from 127.0.0.1: admitted
    result, _ = await refused(running.path, "local", raw_clients)  # unix = false (and a taken name is not revealed)
    assert result is not None and result.code == 0x79


async def test_message_targets(make_broker: MakeBroker, connect: Connect) -> None:
    running = await make_broker(acl=acl(Rule("s", message=("t.*",)), Rule("*")))
    s = await connect(running.path, "s")
    t = await connect(running.path, "t.1")
    u = await connect(running.tcp, "u")
    s.write(codec.encode_message_frame(1, 1, "u", b"no") + codec.encode_message_frame(2, 1, "t.1", b"yes")
            + codec.encode_message_frame(3, 1, "t.absent", b"?"))
    assert await s.frames(3) == [ack(1, 0x79), ack(2, 1), ack(3, 0x71)]
    assert await t.frame() == codec.encode_message_delivery(False, "s", b"yes")
    await u.nothing()
    u.write(codec.encode_message_frame(1, 1, "s", b"x"))  # rule "*" allows no target
    assert await u.frame() == ack(1, 0x79)
    await s.nothing()


async def test_publish_topics(make_broker: MakeBroker, connect: Connect) -> None:
    running = await make_broker(acl=acl(Rule("p", publish=("ok/#",)), Rule("r", subscribe=("#",))))
    p = await connect(running.path, "p")
    r = await connect(running.path, "r")
    r.write(codec.encode_subscribe_frame(1, 1, ["#"]))
    assert await r.frame() == ack(1, 1)
    p.write(codec.encode_publish_frame(1, 1, "no/x", b"a") + codec.encode_publish_frame(2, 1, "ok/x", b"b"))
    assert await p.frames(2) == [ack(1, 0x79), ack(2, 1)]
    assert await r.frame() == codec.encode_publication_delivery(False, "p", "ok/x", b"b")
    await r.nothing()


async def test_broadcast_masks(make_broker: MakeBroker, connect: Connect) -> None:
    running = await make_broker(acl=acl(Rule("b", broadcast=("g.*",)), Rule("*")))
    b = await connect(running.path, "b")
    g = await connect(running.path, "g.1")
    h = await connect(running.path, "h.1")
    b.write(codec.encode_broadcast_frame(1, 1, "h.*", b"no") + codec.encode_broadcast_frame(2, 1, "*", b"no")
            + codec.encode_broadcast_frame(3, 1, "g.*", b"yes"))
    assert await b.frames(3) == [ack(1, 0x79), ack(2, 0x79), ack(3, 1)]
    assert await g.frame() == codec.encode_broadcast_delivery(False, "b", b"yes")
    await h.nothing()


async def test_subscribe_mixed_topics(make_broker: MakeBroker, connect: Connect) -> None:
    running = await make_broker(acl=acl(Rule("s", subscribe=("a/+",)), Rule("p", publish=("#",))))
    s = await connect(running.path, "s")
    p = await connect(running.path, "p")
    s.write(codec.encode_subscribe_frame(7, 1, ["x/1", "a/1", "a/#", "a/2"]))
    assert await s.frames(3) == [ack(7, 0x79), ack(7, 0x79), ack(7, 1)]
    s.write(codec.encode_subscribe_frame(8, 1, ["x/1"]))  # all denied: the 79 then the 01
    assert await s.frames(2) == [ack(8, 0x79), ack(8, 1)]
    for topic in ("a/1", "a/2", "x/1", "a/3/4"):
        p.write(codec.encode_publish_frame(0, 0, topic, b"."))
    assert await s.frames(2) == [codec.encode_publication_delivery(False, "p", t, b".") for t in ("a/1", "a/2")]
    await s.nothing()
    s.write(codec.encode_unsubscribe_frame(9, 1, ["a/1", "z"]))
    assert await s.frames(2) == [ack(9, 0x79), ack(9, 1)]
    p.write(codec.encode_publish_frame(0, 0, "a/1", b"."))
    await s.nothing()


async def test_set_acl_rechecks_clients(running: Running, connect: Connect) -> None:
    keep = await connect(running.path, "keep")
    gone = await connect(running.tcp, "gone")
    keep.write(codec.encode_subscribe_frame(1, 1, ["a/b", "c/d"]))
    assert await keep.frame() == ack(1, 1)
    running.broker.set_acl(acl(Rule("keep", subscribe=("a/#",)), Rule("p", publish=("#",))))
    assert await gone.closed()
    assert running.broker.subscriptions("keep") >= {"a/b"}
    assert "c/d" not in running.broker.subscriptions("keep")
    p = await connect(running.path, "p")
    p.write(codec.encode_publish_frame(0, 0, "c/d", b"1") + codec.encode_publish_frame(0, 0, "a/b", b"2"))
    assert await keep.frame() == codec.encode_publication_delivery(False, "p", "a/b", b"2")
    keep.write(codec.encode_publish_frame(2, 1, "a/b", b"x"))  # no publish rule for keep
    assert await keep.frame() == ack(2, 0x79)
    running.broker.set_acl(None)  # open again
    keep.write(codec.encode_publish_frame(3, 1, "z", b"x"))
    assert await keep.frame() == ack(3, 1)


async def test_elbusd_acl_and_sighup_reload(sock_dir: Path, raw_clients: list[RawClient]) -> None:
    rules = sock_dir / "acl.toml"
    rules.write_text('[[client]]\nname = "a"\nmessage = ["b"]\n[[client]]\nname = "b"\n')
    sock = sock_dir / "e.sock"
    command = [*elbusd_command(), "-B", str(sock), "-B", f"127.0.0.1:{free_port()}", "-t", "1", "--acl", str(rules)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "ready" in await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10)
        a = await RawClient.register(str(sock), "a")
        b = await RawClient.register(str(sock), "b")
        raw_clients += [a, b]
        result, _ = await refused(str(sock), "c", raw_clients)
        assert result is not None and result.code == 0x79
        a.write(codec.encode_message_frame(1, 1, "b", b"hi"))
        assert await a.frame() == ack(1, 1)
        assert await b.frame() == codec.encode_message_delivery(False, "a", b"hi")
        rules.write_text('[[client]]\nname = "b"\nmessage = ["*"]\n')  # "a" is no longer allowed
        proc.send_signal(1)  # SIGHUP
        assert await a.closed()
        b.write(codec.encode_message_frame(1, 1, "x", b"?"))
        assert await b.frame() == ack(1, 0x71)  # b stays, and may now message anyone
        rules.write_text("not toml [")  # a broken file on reload: reported, the rules in force stay
        proc.send_signal(1)
        b.write(codec.encode_message_frame(2, 1, "x", b"?"))
        assert await b.frame() == ack(2, 0x71)
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(asyncio.to_thread(proc.communicate), 10)
    assert proc.returncode == 0
    assert "access control not reloaded" in err and "invalid TOML" in err


def test_elbusd_bad_acl_file_exits_non_zero(sock_dir: Path) -> None:
    rules = sock_dir / "acl.toml"
    rules.write_text('[[client]]\nname = "a"\nnetworks = ["nope"]\n')
    proc = subprocess.run([*elbusd_command(), "-B", str(sock_dir / "x.sock"), "--acl", str(rules)],
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 1
    assert "acl.toml" in proc.stderr and "bad network" in proc.stderr
    missing = subprocess.run([*elbusd_command(), "-B", str(sock_dir / "x.sock"), "--acl", str(sock_dir / "missing.toml")],
                             capture_output=True, text=True, timeout=10)
    assert missing.returncode == 1 and "missing.toml" in missing.stderr


async def test_set_acl_disconnects_by_source(running: Running, connect: Connect) -> None:
    over_tcp = await connect(running.tcp, "c")
    over_unix = await connect(running.path, "c.local")
    running.broker.set_acl(acl(Rule("c.*", networks=()), Rule("c", networks=(ipaddress.ip_network("10.0.0.0/8"),))))
    assert await over_tcp.closed()  # 127.0.0.1 is no longer admitted for "c"
    over_unix.write(codec.encode_subscribe_frame(1, 1, ["t"]))  # still connected (UNIX), nothing to subscribe to
    assert await over_unix.frames(2) == [ack(1, 0x79), ack(1, 1)]
    assert set(running.broker.clients) == {".broker", "c.local"}


async def test_in_process_clients_are_not_restricted(make_broker: MakeBroker, connect: Connect) -> None:
    running = await make_broker(acl=acl(Rule("s", message=("*",))))
    inner = await running.broker.register("inner")  # no rule names it: in-process clients are the program itself
    s = await connect(running.path, "s")
    s.write(codec.encode_message_frame(1, 1, "inner", b"hi"))
    assert await s.frame() == ack(1, 1)
    frame = await asyncio.wait_for(inner.receive(), 3)
    assert frame.payload == b"hi" and frame.sender == "s"
