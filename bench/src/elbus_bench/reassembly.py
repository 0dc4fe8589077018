"""``python -m elbus_bench.reassembly``: the CPU cost of one large frame that arrives in many pieces.

A frame of 1, 2, 4 or 8 MiB is fed in 1 to 4,096 pieces (as a socket hands
it over, one read at a time) to the two receive paths that reassemble it:
the broker's `BrokerConnection.receive_frames` (a client MESSAGE frame) and
a client's `ClientConnection.receive_data` (its delivery). Each cell is CPU
milliseconds per MiB of frame: a linear path costs the same per MiB whatever
the size and however many pieces (plus the fixed cost of one call per piece,
about a microsecond, which shows only where pieces are a few hundred bytes),
so its table is flat; a path that copies everything buffered so far on every
piece costs per MiB in proportion to the number of pieces, at every size, and
the last column's growth over the first shows it. Every
measurement checks that exactly one frame came out, with every payload byte.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from elbus_spec import BrokerConnection, ClientConnection, Message, State, codec

__all__ = ["PATHS", "PIECES", "SIZES_MIB", "Cell", "ReassemblyError", "measure", "table"]

MIB = 1024 * 1024
SIZES_MIB = (1, 2, 4, 8)
PIECES = (1, 4, 16, 64, 256, 1024, 4096)
MIN_CPU = 0.02  # seconds: cheap cells are repeated until they cost at least this much, for a readable figure
MAX_FRAME = 16 * MIB  # both paths' default largest frame: 8 MiB fits
BROKER_PATH, CLIENT_PATH = "BrokerConnection.receive_frames", "ClientConnection.receive_data"
PATHS = (BROKER_PATH, CLIENT_PATH)


class ReassemblyError(AssertionError):
    """The path did not return exactly one frame with the whole payload."""


@dataclass(frozen=True, slots=True)
class Cell:
    path: str
    size_mib: float
    pieces: int
    cpu_ms_per_mib: float


def _broker_path(payload_size: int) -> tuple[bytes, Callable[[], Callable[[bytes], int]]]:
    """A client MESSAGE frame, and a maker of fresh READY broker-side connections that return payload bytes parsed."""
    frame = codec.encode_message_frame(1, 0, "bench.target", b"\xa5" * payload_size)

    def fresh() -> Callable[[bytes], int]:
        conn = BrokerConnection(max_frame_length=MAX_FRAME)
        conn.receive_frames(BrokerConnection.greeting() + codec.encode_registration("bench.sender"))
        conn.accept()

        def feed(piece: bytes) -> int:
            return sum(len(event[3]) for event in conn.receive_frames(piece) if isinstance(event, tuple))

        return feed

    return frame, fresh


def _client_path(payload_size: int) -> tuple[bytes, Callable[[], Callable[[bytes], int]]]:
    """A MESSAGE delivery, and a maker of fresh READY client connections that return payload bytes parsed."""
    frame = codec.encode_message_delivery(0, "bench.sender", b"\xa5" * payload_size)

    def fresh() -> Callable[[bytes], int]:
        conn = ClientConnection("bench.target", max_frame_length=MAX_FRAME)
        for step in (BrokerConnection.greeting(), codec.RESULT_OK, codec.RESULT_OK):  # greeting, handshake OK, registration OK
            conn.receive_data(step)
        assert conn.state is State.READY

        def feed(piece: bytes) -> int:
            return sum(len(event.payload) for event in conn.receive_data(piece) if isinstance(event, Message))

        return feed

    return frame, fresh


_MAKERS = {BROKER_PATH: _broker_path, CLIENT_PATH: _client_path}


def _split(frame: bytes, pieces: int) -> list[bytes]:
    """``pieces`` pieces of (nearly) equal size."""
    if not 1 <= pieces <= len(frame):
        raise ValueError(f"cannot cut {len(frame)} bytes into {pieces} pieces")
    cuts = [len(frame) * i // pieces for i in range(pieces + 1)]
    return [frame[a:b] for a, b in itertools.pairwise(cuts)]


def measure(path: str, size: int, pieces: int) -> Cell:
    """CPU per MiB of one ``size``-byte frame fed to ``path`` in ``pieces`` pieces; raises ReassemblyError
    unless every feed returns exactly the whole payload, once."""
    payload_size = size - 64  # the frame, header and names included, is about ``size`` bytes
    frame, fresh = _MAKERS[path](payload_size)
    parts = _split(frame, pieces)
    spent, runs = 0.0, 0
    while spent < MIN_CPU:
        feed = fresh()
        start = time.process_time()
        got = [feed(part) for part in parts]
        spent += time.process_time() - start
        runs += 1
        if sum(got) != payload_size or sum(1 for g in got if g) != 1:
            raise ReassemblyError(f"{path}: {size} B in {len(parts)} pieces gave payload bytes {[g for g in got if g]}")
    return Cell(path, len(frame) / MIB, len(parts), spent / runs / (len(frame) / MIB) * 1e3)


def table(cells: Sequence[Cell], pieces: Sequence[int]) -> str:
    """One row per path and size, one column per piece count, and the growth from the first column to the last."""
    by_key = {(c.path, round(c.size_mib), c.pieces): c.cpu_ms_per_mib for c in cells}
    lines = [
        "reassembly: CPU ms per MiB of one frame fed in N pieces (linear: flat rows and columns, but for ~1 µs per piece)",
        f"  {'path':<32} {'frame':>6} " + " ".join(f"{n:>8,}" for n in pieces) + f" {'growth':>8}",
    ]
    for path in dict.fromkeys(c.path for c in cells):
        for size in sorted({round(c.size_mib) for c in cells if c.path == path}):
            row = [by_key[(path, size, n)] for n in pieces]
            cells_text = " ".join(f"{v:8.2f}" for v in row)
            lines.append(f"  {path:<32} {size:>2} MiB {cells_text} {row[-1] / row[0]:7.1f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m elbus_bench.reassembly", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 and 2 MiB frames, up to 256 pieces")
    args = p.parse_args(argv)
    sizes = SIZES_MIB[:2] if args.quick else SIZES_MIB
    pieces = tuple(n for n in PIECES if n <= 256) if args.quick else PIECES
    cells = [measure(path, size * MIB, n) for path in PATHS for size in sizes for n in pieces]
    print(table(cells, pieces))


if __name__ == "__main__":
    main()
