"""Bad or hostile clients lose their own connection and nothing else: after each, other clients still work."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from typing import Any

from elbus_spec import ClientConnection, QoS, Refused, codec

PEER_SCRIPT = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.recv(3); s.sendall(b"\\xeb\\x01\\x00"); s.recv(1)
s.sendall(b"\\x06\\x00killed"); s.recv(1)
s.sendall(bytes.fromhex("0100000052ff000000") + b"half a fr")
print("ready", flush=True)
time.sleep(60)
"""


async def still_works(connect: Any, where: str) -> None:
    """A fresh pair of clients can register and exchange an acknowledged message."""
    a = await connect(where, f"ok.a{time.monotonic_ns()}")
    b = await connect(where, f"ok.b{time.monotonic_ns()}")
    assert b.conn is not None and a.conn is not None
    op_id, data = a.conn.send_message(b.conn.name, b"still here", QoS.PROCESSED)
    a.write(data)
    assert await a.frame() == codec.encode_ack(op_id, 1)
    delivered = await b.frame()
    assert delivered.endswith(b"\x00still here")


async def test_garbage_instead_of_greeting(running: Any, open_raw: Any, connect: Any) -> None:
    c = await open_raw(running.path)
    assert await c.raw(3) == b"\xeb\x01\x00"
    c.write(b"GET / HTTP/1.1\r\n\r\n")
    assert await c.raw(1) == b"\x75"
    assert await c.closed()
    await still_works(connect, running.path)


async def test_wrong_version(running: Any, open_raw: Any, connect: Any) -> None:
    c = await open_raw(running.tcp)
    await c.raw(3)
    c.write(b"\xeb\x02\x00")
    assert await c.raw(1) == b"\x75"
    assert await c.closed()
    await still_works(connect, running.tcp)


async def test_name_not_utf8_closes_without_reply(running: Any, open_raw: Any, connect: Any) -> None:
    c = await open_raw(running.path)
    await c.raw(3)
    c.write(b"\xeb\x01\x00")
    assert await c.raw(1) == b"\x01"
    c.write(b"\x03\x00\xff\xfeA")
    assert await c.reader.read() == b""
    await still_works(connect, running.path)


async def test_name_announced_over_what_is_sent_times_out(make_broker: Any, open_raw: Any, connect: Any) -> None:
    running = await make_broker(timeout=0.3)
    c = await open_raw(running.path)
    await c.raw(3)
    c.write(b"\xeb\x01\x00\xff\xffonly a few bytes of a 65535-byte name")
    assert await c.raw(1) == b"\x01"
    started = time.monotonic()
    assert await c.closed(3)
    assert 0.2 < time.monotonic() - started < 2
    await still_works(connect, running.path)


async def test_silent_client_is_dropped_during_the_handshake(make_broker: Any, open_raw: Any) -> None:
    running = await make_broker(timeout=0.3)
    c = await open_raw(running.path)
    assert await c.raw(3) == b"\xeb\x01\x00"
    assert await c.closed(3)


async def test_long_names_and_refusals(running: Any, open_raw: Any, connect: Any) -> None:
    long_name = "n." + "x" * 65000
    c = await open_raw(running.path)
    assert type(await c.handshake(long_name)).__name__ == "Registered"
    for name, code in ((long_name, 0x76), (".x", 0x72), ("", 0x72), ("nobody%%1", 0x71)):
        c = await open_raw(running.path)
        result = await c.handshake(name)
        assert isinstance(result, Refused) and result.code == code, (name, result)
        assert await c.closed()
    await still_works(connect, running.path)


async def test_unknown_op_and_body_without_nul(running: Any, connect: Any) -> None:
    # 0x3f; a message without NUL (0x04, EXCLUDE, is served: see test_extensions.py for a broker without it)
    for frame in (bytes.fromhex("010000007f03000000616263"), bytes.fromhex("0100000052050000006e6f6e756c")):
        c = await connect(running.path, f"bad.{frame.hex()}")
        c.write(frame)
        assert await c.closed()
        assert f"bad.{frame.hex()}" not in running.broker.clients
    await still_works(connect, running.path)


async def test_frame_header_then_silence_is_dropped_after_the_timeout(make_broker: Any, connect: Any) -> None:
    running = await make_broker(timeout=0.3)
    idle = await connect(running.path, "idle")
    c = await connect(running.path, "half")
    c.write(bytes.fromhex("010000005264000000") + b"idle\x00abc")
    started = time.monotonic()
    assert await c.closed(3)
    assert 0.25 < time.monotonic() - started < 1.5
    await asyncio.sleep(0.5)  # the idle client outlives the timeout: only partial frames are timed
    assert "idle" in running.broker.clients
    await idle.nothing(0.1)
    await still_works(connect, running.path)


async def test_steady_stream_is_not_mistaken_for_a_partial_frame(make_broker: Any, connect: Any) -> None:
    """Chunks that always end mid-frame, for longer than the timeout, keep the client alive while frames complete."""
    running = await make_broker(timeout=0.3)
    a = await connect(running.path, "stream.a")
    b = await connect(running.path, "stream.b")
    frame = codec.encode_message_frame(1, QoS.NO, "stream.b", b"x" * 50)
    stream = frame * 40
    deadline = time.monotonic() + 0.8
    while time.monotonic() < deadline:
        a.write(stream[:25])  # each chunk completes the frame before and starts a new one
        stream = stream[25:] + stream[:25]
        await asyncio.sleep(0.01)
    assert "stream.a" in running.broker.clients
    assert (await b.frame()).endswith(b"x" * 50)


async def test_four_gib_announced_length_drops_at_once(running: Any, connect: Any) -> None:
    c = await connect(running.path, "huge")
    c.write(bytes.fromhex("0100000052ffffffff") + b"target\x00")
    started = time.monotonic()
    assert await c.closed(0.9)  # well before the timeout: refused at the header
    assert time.monotonic() - started < 0.5
    await still_works(connect, running.path)


async def test_max_frame_length_is_configurable(make_broker: Any, connect: Any) -> None:
    running = await make_broker(max_frame_length=1000)
    a = await connect(running.path, "small.a")
    assert a.conn is not None
    a.write(a.conn.send_message("small.a", b"y" * 900, QoS.PROCESSED)[1])
    assert (await a.frame()).endswith(b"y" * 900)
    a.write(a.conn.send_message("small.a", b"y" * 1000, QoS.PROCESSED)[1])
    assert await a.closed()
    await still_works(connect, running.path)


async def test_client_killed_mid_frame(running: Any, connect: Any) -> None:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(PEER_SCRIPT), running.path], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 5) == b"ready\n"
        assert "killed" in running.broker.clients
        os.kill(proc.pid, signal.SIGKILL)
        for _ in range(100):
            if "killed" not in running.broker.clients:
                break
            await asyncio.sleep(0.02)
        assert "killed" not in running.broker.clients
    finally:
        proc.kill()
        proc.wait()
    await still_works(connect, running.path)


async def send_until_refused(sender: Any, target: str, payload: bytes, limit: int = 5000) -> list[int]:
    """Acknowledged messages to ``target`` one at a time until one is refused; returns every ack code.

    Each ack must come back at once: the broker never holds a sender for its receiver.
    """
    codes: list[int] = []
    while not codes or codes[-1] == 1:
        started = time.monotonic()
        sender.write(sender.conn.send_message(target, payload, QoS.PROCESSED)[1])
        codes.append((await sender.frame(1))[5])
        assert time.monotonic() - started < 1, "the sender was held"
        assert len(codes) < limit, "the receiver never filled up"
    return codes


async def test_slow_consumer_is_dropped_and_its_sender_goes_on(make_broker: Any, connect: Any) -> None:
    running = await make_broker(timeout=5, queue_bytes=256 * 1024)
    slow = await connect(running.path, "slow")  # never reads
    sender = await connect(running.path, "sender")
    a = await connect(running.path, "busy.a")
    b = await connect(running.path, "busy.b")
    codes = await send_until_refused(sender, "slow", b"z" * 16384)
    assert codes[-1] == 0x77 and set(codes[:-1]) == {1}  # the frame that did not fit
    assert "slow" not in running.broker.clients and await slow.closed()  # dropped at once, not after the timeout
    sender.write(sender.conn.send_message("slow", b"after", QoS.PROCESSED)[1])
    assert (await sender.frame())[5] == 0x71
    for _ in range(50):  # everyone else goes on
        a.write(a.conn.send_message("busy.b", b"ping", QoS.PROCESSED)[1])
        assert (await a.frame())[5] == 1
        assert (await b.frame()).endswith(b"ping")
    await still_works(connect, running.path)


async def test_queue_bound_in_frames_drops_the_consumer_with_ack_77(make_broker: Any, connect: Any) -> None:
    """Past the socket buffers, ``queue_size`` frames wait for a client that does not read; one more is refused."""
    running = await make_broker(queue_size=4, timeout=5)
    slow = await connect(running.path, "slow")  # never reads
    sender = await connect(running.path, "sender")
    codes = await send_until_refused(sender, "slow", b"z" * 16384)
    assert codes[-1] == 0x77 and set(codes[:-1]) == {1}
    assert "slow" not in running.broker.clients and await slow.closed()
    await still_works(connect, running.path)


async def test_slow_reader_within_its_queue_gets_everything(make_broker: Any, connect: Any) -> None:
    running = await make_broker(timeout=2)
    reader = await connect(running.path, "reader")
    reader.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sender = await connect(running.path, "fast")
    n = 3000  # 1.5 MB, within the default bound of 2 MiB queued per client
    for i in range(n):
        sender.write(sender.conn.send_message("reader", b"%05d" % i + b"x" * 500, QoS.NO)[1])
    for i in range(n):
        frame = await reader.frame()
        assert frame.endswith(b"%05d" % i + b"x" * 500)
        if i % 100 == 0:
            await asyncio.sleep(0.01)  # a consumer slower than the sender, but alive
    assert "reader" in running.broker.clients and "fast" in running.broker.clients


async def test_thousand_clients_at_once(running: Any, raw_clients: list[Any]) -> None:
    async def one(i: int) -> Any:
        reader, writer = await asyncio.open_unix_connection(running.path)
        conn = ClientConnection(f"many.{i}")
        while True:
            events = conn.receive_data(await reader.read(100))
            writer.write(conn.data_to_send())
            if events:
                break
        return reader, writer

    pairs = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(1000))), 20)
    try:
        assert len([n for n in running.broker.clients if n.startswith("many.")]) == 1000
        first_writer = pairs[0][1]
        first_writer.write(codec.encode_broadcast_frame(1, QoS.PROCESSED, "many.*", b"to all"))
        expected = codec.encode_broadcast_delivery(0, "many.0", b"to all")
        for i, (reader, _) in enumerate(pairs):
            data = await asyncio.wait_for(reader.readexactly(len(expected)), 5)
            assert data == expected, i
    finally:
        for _, writer in pairs:
            writer.close()


async def test_random_bytes_never_break_the_broker(running: Any, connect: Any, caplog: Any) -> None:
    """Registered clients writing random bytes (and random valid frames): dropped or served, no broker error."""
    rng = random.Random(20261125)
    ops = [0x00, 0x01, 0x02, 0x03, 0x12, 0x13, 0x3F, 0x04]
    for round_ in range(60):
        c = await connect(running.path, f"fuzz.{round_}")
        blob = bytearray()
        for _ in range(rng.randint(1, 8)):
            if rng.random() < 0.5:
                body = bytes(rng.choice(b"\x00ab.*?/+#\xff") for _ in range(rng.randint(0, 12)))
                op = rng.choice(ops) | (rng.randint(0, 3) << 6)
                blob += rng.randint(0, 2**32 - 1).to_bytes(4, "little") + bytes([op]) + len(body).to_bytes(4, "little") + body
            else:
                blob += rng.randbytes(rng.randint(1, 20))
        c.write(bytes(blob))
        await asyncio.sleep(0)
    await asyncio.sleep(0.2)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text
    await still_works(connect, running.path)


async def test_random_handshakes_never_break_the_broker(running: Any, open_raw: Any, connect: Any, caplog: Any) -> None:
    rng = random.Random(7)
    for _ in range(60):
        c = await open_raw(running.path)
        head = rng.choice([b"", b"\xeb\x01\x00", b"\xeb\x01\x00" + rng.randbytes(2)])
        c.write(head + rng.randbytes(rng.randint(0, 40)))
        await asyncio.sleep(0)
    await asyncio.sleep(0.2)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text
    await still_works(connect, running.path)
