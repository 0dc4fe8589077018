"""A small broker whose behaviour each test chooses: ack codes, refusals, silence, hang-ups, deliveries.

It runs the real broker-side protocol object (`elbus_spec.BrokerConnection`)
over real sockets (UNIX or TCP on 127.0.0.1), one thread per connection,
and records every request and ping it parses so tests can check what the
client wrote at the receiving end.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from elbus_spec import BrokerConnection, Code, Ping, ProtocolViolation, RegistrationRequest, Request, codec


@dataclass
class Peer:
    """One client connection as the broker sees it."""

    sock: socket.socket
    name: str | None = None
    requests: list[Request] = field(default_factory=list)
    pings: int = 0
    received: bytearray = field(default_factory=bytearray)  # every byte the client wrote, handshake included
    violation: str | None = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, data: bytes) -> None:
        with self.send_lock:
            self.sock.sendall(data)

    def deliver_message(self, sender: str, payload: bytes, *, realtime: bool = False) -> None:
        self.send(codec.encode_message_delivery(int(realtime), sender, payload))

    def deliver_publication(self, sender: str, topic: str, payload: bytes) -> None:
        self.send(codec.encode_publication_delivery(0, sender, topic, payload))

    def hang_up(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)


class ScriptedBroker:
    """Listens on ``address`` (a UNIX path, or None for TCP on 127.0.0.1 with a free port).

    ``ack`` is the code answered to every request that asks for an ack
    (None: never answer); ``refuse`` maps names to registration refusal
    codes; ``greet`` False accepts connections and stays silent;
    ``keepalive`` sends a NOP every so many seconds.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        ack: int | None = Code.OK,
        refuse: dict[str, int] | None = None,
        greet: bool = True,
        keepalive: float | None = None,
    ) -> None:
        self.ack = ack
        self.refuse = refuse or {}
        self.greet = greet
        self.keepalive = keepalive
        self.peers: list[Peer] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        if address is None:
            self._listener = socket.create_server(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        else:
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(address)
            self._listener.listen(64)
            self.address = address
        self._listener.settimeout(0.05)

    def __enter__(self) -> ScriptedBroker:
        self._spawn(self._accept_loop)
        if self.keepalive:
            self._spawn(self._keepalive_loop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for peer in self.peers:
            try:
                peer.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)
        for peer in self.peers:
            peer.sock.close()
        self._listener.close()
        if self._listener.family == socket.AF_UNIX:
            os.unlink(self.address)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name="scripted-broker", daemon=True)
        self._threads.append(thread)
        thread.start()

    def peer(self, name: str, timeout: float = 5.0, *, nth: int = 1) -> Peer:
        """The ``nth`` registered connection named ``name`` (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            named = [peer for peer in self.peers if peer.name == name]
            if len(named) >= nth:
                return named[nth - 1]
            time.sleep(0.005)
        raise AssertionError(f"{name!r} never registered {nth} time(s)")

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            peer = Peer(sock)
            self.peers.append(peer)
            self._spawn(self._serve, peer)

    def _keepalive_loop(self) -> None:
        assert self.keepalive
        while not self._stop.wait(self.keepalive):
            for peer in list(self.peers):
                if peer.name is not None:
                    try:
                        peer.send(codec.encode_nop())
                    except OSError:
                        pass

    def _serve(self, peer: Peer) -> None:
        conn = BrokerConnection()
        try:
            if not self.greet:
                self._stop.wait()
                return
            peer.send(conn.greeting())
            while not self._stop.is_set():
                data = peer.sock.recv(65536)
                if not data:
                    return
                peer.received += data
                events = conn.receive_data(data)
                out = conn.data_to_send()
                if out:
                    peer.send(out)
                if self._handle(peer, conn, events):
                    return
        except OSError:
            return

    def _handle(self, peer: Peer, conn: BrokerConnection, events: list) -> bool:
        """Act on parsed events; True when the connection must end."""
        for event in events:
            if isinstance(event, RegistrationRequest):
                code = self.refuse.get(event.name)
                if code is not None:
                    peer.send(conn.refuse(code))
                    peer.sock.close()
                    return True
                peer.send(conn.accept())
                peer.name = event.name
                return self._handle(peer, conn, conn.receive_data(b""))
            if isinstance(event, Ping):
                peer.pings += 1
            elif isinstance(event, ProtocolViolation):
                peer.violation = event.reason
                peer.sock.close()
                return True
            elif isinstance(event, Request):
                peer.requests.append(event)
                if event.needs_ack and self.ack is not None:
                    peer.send(conn.ack(event.op_id, self.ack))
        return False
