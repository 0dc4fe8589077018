"""Addresses are read as the original clients read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from elbus_spec import is_unix_address, parse_address


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("/tmp/elbus.sock", "/tmp/elbus.sock"),
        ("relative.sock", "relative.sock"),
        ("x.socket", "x.socket"),
        ("x.ipc", "x.ipc"),
        ("/run/broker", "/run/broker"),
        ("127.0.0.1:7777", ("127.0.0.1", 7777)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:7777", ("::1", 7777)),
        (":7777", ("127.0.0.1", 7777)),  # loopback, as elbusd -B :7777 listens
        (Path("/a/b.sock"), "/a/b.sock"),
    ],
)
def test_parse(address: str, expected: object) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["localhost", "host:", ":", ":port", "[]:80", "host:port", "host:70000"])
def test_neither_is_an_error(address: str) -> None:
    assert not is_unix_address(address)
    with pytest.raises(ValueError, match="host:port"):
        parse_address(address)
