"""Sample a broker process with py-spy while a stage runs, and name where its time goes.

`Profiler(pid, path)` attaches ``py-spy record`` (raw collapsed stacks) for the
duration of an ``async with`` block; `summary()` aggregates the samples by
function: self time (the function was on top of the stack) and total time (it
was anywhere on the stack), as percentages of all samples.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from .brokers import stop_process

__all__ = ["Profiler", "ProfilerError", "summarize"]

_LINE_NUMBER = re.compile(r":\d+\)$")


class ProfilerError(RuntimeError):
    """py-spy is not installed, could not attach, or wrote no samples (its output is in the message)."""


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise ProfilerError("py-spy is not installed (pip install py-spy)")
    return found


class Profiler:
    def __init__(self, pid: int, path: str, rate: int = 500) -> None:
        self.pid, self.path, self.rate = pid, path, rate
        self._proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Profiler:
        command = [_py_spy(), "record", "--pid", str(self.pid), "--format", "raw", "--output", self.path]
        command += ["--rate", str(self.rate), "--nonblocking"]
        self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        await asyncio.sleep(1.0)  # attaching takes a moment; samples taken before the load are few and idle
        if self._proc.poll() is not None:
            raise ProfilerError(
                f"py-spy exited: {self._proc.stdout.read().decode(errors='replace') if self._proc.stdout else ''}"
            )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        proc = self._proc
        if proc is None:
            return
        await stop_process(proc, signal.SIGINT, 10.0)  # py-spy writes its output on SIGINT

    def summary(self, top: int = 15) -> list[tuple[str, float, float]]:
        try:
            text = Path(self.path).read_text()
        except OSError as exc:
            raise ProfilerError(f"py-spy wrote no profile: {exc}") from None
        return summarize(text, top)


def summarize(collapsed: str, top: int = 15) -> list[tuple[str, float, float]]:
    """``(function, self %, total %)`` for the ``top`` functions by self time, from collapsed stacks.

    Each line is ``frame;frame;...;leaf COUNT``. py-spy leaves idle samples out,
    so the percentages are shares of the time the broker was busy.
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [_LINE_NUMBER.sub(")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    if not samples:
        raise ProfilerError("the profile has no samples")
    return [(name, 100.0 * n / samples, 100.0 * total[name] / samples) for name, n in own.most_common(top)]
