"""Results of replaying traces and the pass/fail table printed for them."""

from __future__ import annotations

from dataclasses import dataclass

from ._format import format_step
from ._model import Comment, Step, Trace
from ._pattern import Unit, example, match_unit
from ._stream import Side, Stage, dissect

__all__ = ["Failure", "TraceResult", "unit_failure", "format_report"]


@dataclass(frozen=True, slots=True)
class Failure:
    """The first step of a trace that did not happen as written.

    ``field`` names the protocol field where the bytes first differ (empty
    when nothing or the wrong kind of thing arrived); ``expected`` and
    ``got`` are hex, one group per field.
    """

    line: int
    step: str
    reason: str
    field: str = ""
    expected: str = ""
    got: str = ""


@dataclass(frozen=True, slots=True)
class TraceResult:
    """How far a trace got: ``steps_run`` of ``steps_total`` passed, and the failure that stopped it if any.

    ``status`` is client mode's account of how the trace was played: ``ran``,
    ``ran (n raw steps)`` or ``broker-only: <reason>`` (then nothing ran).
    """

    trace: Trace
    steps_run: int
    steps_total: int
    failure: Failure | None
    seconds: float
    status: str = ""

    @property
    def broker_only(self) -> bool:
        return self.status.startswith("broker-only")

    @property
    def passed(self) -> bool:
        return self.failure is None


def spaced_hex(side: Side, stage: Stage, data: bytes) -> str:
    """``data`` as hex with a space between protocol fields."""
    return " ".join(field.data.hex() for field in dissect(side, stage, data) if field.data) or "(nothing)"


def step_failure(step: Step, reason: str, **details: str) -> Failure:
    return Failure(step.line, format_step(step), reason, **details)


def unit_failure(step: Step, side: Side, stage: Stage, unit: Unit, actual: bytes) -> Failure | None:
    """A failure naming the field where ``actual`` breaks ``unit`` (bytes ``side`` wrote at ``stage``), or None."""
    mismatch = match_unit(unit, actual)
    if mismatch is None:
        return None
    offset, field = 0, "end"
    for candidate in dissect(side, stage, actual):
        if offset <= mismatch.offset < offset + len(candidate.data):
            field = candidate.name
            break
        offset += len(candidate.data)
    expected = spaced_hex(side, stage, example(unit))
    return step_failure(step, mismatch.reason, field=field, expected=expected, got=spaced_hex(side, stage, actual))


def count_steps(trace: Trace) -> int:
    return sum(not isinstance(step, Comment) for step in trace.steps)


def format_report(results: list[TraceResult], title: str = "") -> str:
    """The pass/fail table: one row per trace, then each failure with its step, field, expected and got."""
    width = max([len(r.trace.name) for r in results] + [5])
    lines = [title] if title else []
    client_mode = any(r.status for r in results)
    header = f"{'trace'.ljust(width)}  {'steps':>9}  {'time':>6}  result"
    lines.append(header + ("  client mode" if client_mode else ""))
    for result in results:
        steps = f"{result.steps_run}/{result.steps_total}"
        verdict = "-" if result.broker_only else "pass" if result.passed else "FAIL"
        row = f"{result.trace.name.ljust(width)}  {steps:>9}  {result.seconds:5.2f}s  {verdict:6}"
        lines.append((row + ("  " + result.status if client_mode else "")).rstrip())
    for result in results:
        failure = result.failure
        if failure is None:
            continue
        lines += ["", f"FAIL {result.trace.name}, line {failure.line}: {failure.step}", f"  reason:   {failure.reason}"]
        if failure.field:
            lines.append(f"  field:    {failure.field}")
        if failure.expected or failure.got:
            lines += [f"  expected: {failure.expected}", f"  got:      {failure.got}"]
    played = [r for r in results if not r.broker_only]
    summary = f"{sum(r.passed for r in played)}/{len(played)} traces passed, {sum(r.steps_run for r in results)} steps run"
    if len(played) < len(results):
        summary += f"; {len(results) - len(played)} broker-only"
    lines += ["", summary]
    return "\n".join(lines)
