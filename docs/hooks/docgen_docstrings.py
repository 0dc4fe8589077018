"""A Griffe extension (``extensions:`` in mkdocs.yml) that lets the API pages show docstrings as Markdown.

The packages' docstrings are written for ``help()`` as much as for the site,
so they keep two habits of plain-text docstrings that Markdown renders
badly; this extension rewrites them while the reference is built and leaves
the source alone:

* a reStructuredText literal block (a paragraph ending in ``::`` followed by
  an indented block) becomes a fenced Python block, so no stray ``::`` shows
  and the code is highlighted;
* an undocumented instance attribute that only stores an ``__init__``
  argument (``self.address = address``) would show as ``address = address``:
  it takes the argument's annotation instead, or is left out when the
  argument has none (the signature already shows it).
"""

from __future__ import annotations

import ast
from typing import Any

import griffe

__all__ = ["MarkdownDocstrings", "fence_literal_blocks"]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def fence_literal_blocks(text: str) -> str:
    """``text`` with every ``::`` literal block turned into a fenced ``python`` block."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        body_start = i + 1
        while body_start < len(lines) and not lines[body_start].strip():
            body_start += 1
        if not (
            line.rstrip().endswith("::") and body_start < len(lines) and _indent(lines[body_start]) > _indent(line)
        ):
            out.append(line)
            i += 1
            continue
        margin = " " * _indent(line)
        intro = line.rstrip()[:-2].rstrip()  # "Example::" reads "Example:", a lone "::" vanishes
        if intro:
            out += [intro + ":" if not intro.endswith(":") else intro, ""]
        end = body_start
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > _indent(line)):
            end += 1
        block = lines[body_start:end]
        while block and not block[-1].strip():
            block.pop()
        depth = min(_indent(ln) for ln in block if ln.strip())
        out += [margin + "```python", *(margin + ln[depth:] if ln.strip() else "" for ln in block), margin + "```"]
        if end < len(lines):
            out.append("")
        i = end
    return "\n".join(out)


def _stored_argument(attribute: griffe.Attribute, init: griffe.Function) -> griffe.Parameter | None:
    """The ``__init__`` parameter an undocumented instance attribute merely stores, if that is all it does."""
    if attribute.docstring is not None or attribute.annotation is not None or "instance-attribute" not in attribute.labels:
        return None
    value = str(attribute.value) if attribute.value is not None else None
    if value != attribute.name or value not in init.parameters:
        return None
    return init.parameters[value]


class MarkdownDocstrings(griffe.Extension):
    """Rewrites what the module docstring describes, as each object is loaded."""

    def on_instance(self, *, node: ast.AST | griffe.ObjectNode, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None and "::" in obj.docstring.value:
            obj.docstring.value = fence_literal_blocks(obj.docstring.value)

    def on_class_members(self, *, node: ast.AST | griffe.ObjectNode, cls: griffe.Class, agent: Any, **kwargs: Any) -> None:
        init = cls.members.get("__init__")
        if not isinstance(init, griffe.Function):
            return
        for name, member in list(cls.members.items()):
            if not isinstance(member, griffe.Attribute):
                continue
            parameter = _stored_argument(member, init)
            if parameter is None:
                continue
            if parameter.annotation is None:
                cls.del_member(name)
            else:
                member.annotation = parameter.annotation
                member.value = None
