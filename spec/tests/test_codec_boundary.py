"""Only the generated codec builds or parses frame bytes: no package spells a byte layout itself.

The spec is the one place that knows a layout; a hand-written ``struct``
format, a private codec name or a literal handshake byte elsewhere is a copy
that a change to the spec would silently leave behind. This scans the source
of every package for the ways such copies are written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "src" / "elbus_spec"
# The codec, the spec it is generated from, and the generator: where layouts belong.
CODEC = {SPEC / "_codec.py", SPEC / "schema.py", SPEC / "codegen.py"}

PATTERNS = {
    "struct module": re.compile(r"^\s*(import struct\b|from struct import)|\bstruct\.(Struct|pack|unpack|iter_unpack)"),
    "private codec name": re.compile(r"\bcodec\._[A-Za-z]"),
    "little-endian integer by hand": re.compile(r"\b(from_bytes|to_bytes)\(.*little"),
    "handshake result byte": re.compile(r"""\bb(["'])(\\x01)+\1"""),
    "ack or greeting byte": re.compile(r"""\bb["']\\x(fe|eb)|fromhex\(["'](fe|eb)""", re.IGNORECASE),
    "ping or keep-alive frame": re.compile(r"""\bb["']\\x00["']\s*\*\s*[69]\b"""),
}

# (file relative to the repository, pattern name) -> why it stays. Keep it short.
ALLOWED: dict[tuple[str, str], str] = {
    # The cluster's envelope between brokers (chunk and publication heads on NATS) is not an elbus
    # frame: only elbus_cluster speaks it, and envelope.py is its one definition (elbus frames inside
    # it come from the codec). Its flag bytes are a record's ack-wanted flag, not a handshake result.
    ("cluster/src/elbus_cluster/envelope.py", "struct module"): "the cluster envelope's own layout",
    ("cluster/src/elbus_cluster/envelope.py", "handshake result byte"): "a record's ack-wanted flag",
}


def sources() -> list[Path]:
    return sorted(p for p in ROOT.glob("*/src/**/*.py") if p not in CODEC and ".venv" not in p.parts)


def violations(text: str) -> list[tuple[int, str, str]]:
    """(line number, pattern name, line) of every place ``text`` spells a layout itself."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for name, pattern in PATTERNS.items():
            if pattern.search(line):
                found.append((number, name, line.strip()))
    return found


def test_the_scan_sees_every_package() -> None:
    packages = {p.relative_to(ROOT).parts[0] for p in sources()}
    assert {"spec", "client-sync", "client-async", "rpc", "cli", "server", "cluster", "conformance", "bench"} <= packages


@pytest.mark.parametrize(
    "line",
    [
        "import struct",
        '_HEADER = struct.Struct("<IBI")',
        "head = codec._SERVER_HEADER.pack(1, 2, 3)",
        'op_id = int.from_bytes(data[1:5], "little")',
        'return b"\\x01"',
        "expect(b'\\x01\\x01')",
        'ack = b"\\xfe" + op_id',
        'GREETING = bytes.fromhex("eb0100")',
        'PING = b"\\x00" * 9',
    ],
)
def test_each_way_of_spelling_a_layout_is_caught(line: str) -> None:
    assert violations(line), line


def test_codec_names_pass() -> None:
    assert not violations("ack = codec.pack_ack(op_id, code)\nif head == codec.RESULT_OK:\n    pass\n")


def test_no_package_spells_a_byte_layout_outside_the_codec() -> None:
    found = []
    for path in sources():
        rel = path.relative_to(ROOT).as_posix()
        for number, name, line in violations(path.read_text()):
            if (rel, name) not in ALLOWED:
                found.append(f"{rel}:{number}: {name}: {line}")
    assert not found, "use the generated codec's public names instead:\n" + "\n".join(found)


def test_allowed_entries_are_still_needed() -> None:
    for rel, name in ALLOWED:
        assert any(n == name for _, n, _ in violations((ROOT / rel).read_text())), f"stale allow-list entry {rel}: {name}"
