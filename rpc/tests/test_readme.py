"""The README's examples (serving, calling async, calling blocking) run as written against the project's broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from brokers import HAS_SERVER, running_broker
from readme_examples import python_blocks, run_example, start_example, stop_example, wait_registered

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.skipif(not HAS_SERVER, reason="the examples call the project broker's .broker service")
async def test_readme_examples(sock_path: str) -> None:
    serving, calling, blocking = python_blocks(README)
    broker: Any
    async with running_broker("elbus_server", sock_path) as broker:
        proc = await start_example(serving, sock_path)
        try:
            await wait_registered(broker, "demo.svc")
            out = (await run_example(calling, sock_path)).splitlines()
            assert out == ["6", "{'ok': True}", "-32602 bad params", "-32120"]
            assert (await run_example(blocking, sock_path)).splitlines() == ["9"]
        finally:
            printed = await stop_example(proc)
    assert "demo.caller {'event': 'started'}" in printed
