"""mkdocs hooks of the documentation site (``hooks:`` in mkdocs.yml).

On every build: the protocol reference is rendered from the spec, the API
reference pages are generated for every package of the build (but those
`docgen_api.WITHOUT_API_PAGE` names, with its reason), and the
conformance traces are rendered by the conformance suite when it is part of
the build. They are in-memory files; the ``protocol/index.md``,
``api/index.md`` and ``conformance.md`` entries of the nav become sections
listing them. Every python example of a guide page is checked to carry an
example marker, so that the docs test runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # mkdocs loads this file alone; its siblings are plain modules

from docgen_api import API_DIR, documented_packages, render_api_pages
from docgen_examples import MarkerError, find_examples
from docgen_protocol import PROTOCOL_DIR, render_protocol_pages
from docgen_traces import render_trace_pages
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

_generated: dict[str, tuple[str, str]] = {}


def _expand(nav: list[Any], placeholder: str, entries: list[dict[str, str]]) -> bool:
    """Turn the nav entry whose target is ``placeholder`` into a section of ``entries``."""
    for i, item in enumerate(nav):
        if isinstance(item, dict):
            ((title, target),) = item.items()
            if target == placeholder:
                nav[i] = {title: entries}
                return True
            if isinstance(target, list) and _expand(target, placeholder, entries):
                return True
    return False


def _entries(pages: dict[str, tuple[str, str]]) -> list[dict[str, str]]:
    return [{nav_title: path} for path, (nav_title, _) in pages.items()]


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    try:
        protocol = render_protocol_pages()
        api = render_api_pages()
        traces = render_trace_pages(list(documented_packages()))
    except (ValueError, ImportError) as exc:
        raise PluginError(f"generated pages: {exc}") from exc
    _generated.clear()
    sections = [(f"{PROTOCOL_DIR}/index.md", _entries(protocol)), (f"{API_DIR}/index.md", _entries(api))]
    if traces:
        sections.append(("conformance.md", [{"Overview": "conformance.md"}, *_entries(traces)]))
    for placeholder, entries in sections:
        if not _expand(config.nav or [], placeholder, entries):
            raise PluginError(f"mkdocs.yml: the nav needs an entry pointing at {placeholder}")
    for pages in (protocol, api, traces):
        _generated.update(pages)
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path, (_, content) in _generated.items():
        if files.get_file_from_path(path) is not None:
            raise PluginError(f"{path} is generated: remove the file from docs/")
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri in _generated:  # generated pages show codec calls, not runnable examples
        return markdown
    try:
        find_examples(page.file.src_uri, markdown)
    except MarkerError as exc:
        raise PluginError(str(exc)) from exc
    return markdown
