"""The README's examples (listener, sender, RPC call) run as written against the project's broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from brokers import HAS_SERVER, running_broker
from readme_examples import python_blocks, run_example, start_example, stop_example, wait_registered

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.skipif(not HAS_SERVER, reason="the RPC example calls the project broker's .broker service")
async def test_readme_examples(sock_path: str) -> None:
    listener, sender, rpc_call = python_blocks(README)
    broker: Any
    async with running_broker("elbus_server", sock_path) as broker:
        proc = await start_example(listener, sock_path)
        try:
            await wait_registered(broker, "demo.listener")
            assert "nobody is there" in await run_example(sender, sock_path)
            out = await run_example(rpc_call, sock_path)
            assert "{'ok': True}" in out and "'clients'" in out
        finally:
            printed = await stop_example(proc)
    assert "MESSAGE demo.sender None b'hello'" in printed
    assert "PUBLISH demo.sender sensors/t1 b'21.5'" in printed
    assert "BROADCAST demo.sender None b'to everyone in demo'" in printed
    assert printed.count("MESSAGE demo.sender") == 1 + 1000 + 1
