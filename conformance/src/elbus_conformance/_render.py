"""Traces as Markdown for the documentation site: one section per trace, one page per group."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ._client_plan import plan_client_trace
from ._format import step_content
from ._model import Close, Closed, Comment, Connect, Do, Expect, Send, Silence, Step, Trace
from ._report import count_steps

__all__ = ["render_markdown", "render_group", "render_site"]

_WHAT = {
    Connect: "connects",
    Send: "client → broker",
    Expect: "broker → client",
    Silence: "nothing arrives",
    Closed: "closed by the broker",
    Close: "client closes",
    Do: "client library call",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _bytes(step: Step) -> str:
    return f"`{_cell(step_content(step))}`" if isinstance(step, Send | Expect | Do) else ""


def render_markdown(trace: Trace, *, level: int = 2) -> str:
    """One trace as a Markdown section: what it shows, where it comes from, and a table of its steps."""
    heading = "#" * level
    lines = [f"{heading} {trace.name}", ""]
    if trace.title:
        lines += [trace.title, ""]
    lines.append(f"- provenance: {trace.provenance or 'not stated'}")
    lines.append(f"- client mode: {plan_client_trace(trace).status}")
    lines += [f"- varies between runs: {value}" for value in trace.varies]
    if trace.tags:
        lines.append(f"- tags: {', '.join(trace.tags)}")
    lines += ["", "| line | conn | what | bytes | note |", "|---:|---|---|---|---|"]
    for step in trace.steps:
        if isinstance(step, Comment):
            lines.append(f"| {step.line or ''} | | | | *{_cell(step.text)}* |")
            continue
        lines.append(f"| {step.line or ''} | {step.conn} | {_WHAT[type(step)]} | {_bytes(step)} | {_cell(step.note)} |")
    return "\n".join(lines) + "\n"


def render_group(group: str, traces: Iterable[Trace]) -> str:
    """A page for one group of traces."""
    traces = list(traces)
    intro = [
        f"# Conformance traces: {group}",
        "",
        f"{len(traces)} traces, {sum(count_steps(t) for t in traces)} steps. Hex groups are protocol fields,",
        '`"..."` is UTF-8 text, `len` a computed length, `{...}` a MessagePack template',
        "(type names stand for values that vary). Keep-alive NOPs may arrive between any two frames.",
        "",
    ]
    return "\n".join(intro) + "\n" + "\n".join(render_markdown(trace) for trace in traces)


def render_site(traces: Iterable[Trace], out: Path) -> list[Path]:
    """Write ``index.md`` and one ``GROUP.md`` per group into ``out``; returns the pages written."""
    groups: dict[str, list[Trace]] = {}
    for trace in traces:
        groups.setdefault(trace.group, []).append(trace)
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    index = ["# Conformance traces", "", "| group | traces | steps |", "|---|---:|---:|"]
    for group in sorted(groups):
        page = out / f"{group}.md"
        page.write_text(render_group(group, groups[group]), encoding="utf-8")
        pages.append(page)
        index.append(f"| [{group}]({group}.md) | {len(groups[group])} | {sum(count_steps(t) for t in groups[group])} |")
    (out / "index.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    return [out / "index.md", *pages]
