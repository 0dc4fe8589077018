"""Run a README's Python examples as programs against a test broker (the socket path substituted)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

EXAMPLE_ADDRESS = "/tmp/elbus/elbus.sock"


def python_blocks(readme: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)


async def start_example(code: str, address: str) -> asyncio.subprocess.Process:
    """The example as its own unbuffered Python process, talking to ``address``."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-u",
        "-c",
        code.replace(EXAMPLE_ADDRESS, address),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def run_example(code: str, address: str, timeout: float = 10) -> str:
    """Run the example to its end; return its output, raising AssertionError if it failed."""
    proc = await start_example(code, address)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def stop_example(proc: asyncio.subprocess.Process) -> str:
    """Stop a long-running example; return what it printed."""
    if proc.returncode is None:
        proc.kill()
    out, _ = await proc.communicate()
    return out.decode()


async def wait_registered(broker: object, name: str, timeout: float = 10) -> None:
    """Wait until ``name`` is registered on a test broker (either kind)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        clients = getattr(broker, "clients", None)
        if clients is None:
            clients = broker.broker.clients  # type: ignore[attr-defined]
        if name in clients:
            return
        assert loop.time() < deadline, f"{name} did not register"
        await asyncio.sleep(0.05)
