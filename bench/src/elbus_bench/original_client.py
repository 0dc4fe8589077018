"""Messages per second of the original PyPI sync client through our broker.

Starts ``elbusd`` (uvloop when installed) on a temporary UNIX socket, registers
a listener and a sender with `elbus.client.Client`, sends N QoS 0 messages
and reports how fast the listener received all of them.

    python -m elbus_bench.original_client [-n 100000] [--payload-size 10] [--tcp]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import elbus.client


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=100_000)
    p.add_argument("--payload-size", type=int, default=10)
    p.add_argument("--tcp", action="store_true", help="connect over 127.0.0.1 TCP instead of a UNIX socket")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="elbus-bench-"))
    where = "127.0.0.1:17999" if args.tcp else str(tmp / "bench.sock")
    elbusd = Path(sys.executable).with_name("elbusd")
    broker = subprocess.Popen([str(elbusd), "-B", where], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert broker.stdout is not None
        broker.stdout.readline()
        done = threading.Event()
        received = 0

        def on_frame(frame: object) -> None:
            nonlocal received
            received += 1
            if received == args.n:
                done.set()

        listener = elbus.client.Client(where, "bench.listener")
        listener.on_frame = on_frame
        listener.connect()
        sender = elbus.client.Client(where, "bench.sender")
        sender.connect()
        payload = os.urandom(args.payload_size)
        started = time.perf_counter()
        for _ in range(args.n):
            sender.send("bench.listener", elbus.client.Frame(payload, qos=0))
        sent = time.perf_counter() - started
        if not done.wait(60):
            raise SystemExit(f"only {received} of {args.n} messages arrived")
        elapsed = time.perf_counter() - started
        print(f"{args.n} messages of {args.payload_size} bytes over {'TCP' if args.tcp else 'UNIX'}: "
              f"sent in {sent:.2f} s, all received in {elapsed:.2f} s = {args.n / elapsed:,.0f} msg/s")
        for client in (listener, sender):
            client.disconnect()
    finally:
        broker.terminate()
        broker.wait()


if __name__ == "__main__":
    main()
