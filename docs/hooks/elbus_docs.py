"""mkdocs hooks of the documentation site (``hooks:`` in mkdocs.yml).

On every build: the protocol reference is rendered from the spec and the API
reference pages are generated for every package of the repository, both as
in-memory files that replace the ``protocol/index.md`` and ``api/index.md``
entries of the nav with their page lists; and every python example of a
guide page is checked to carry an example marker, so that the docs test
runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # mkdocs loads this file alone; its siblings are plain modules

from api_pages import API_DIR, render_api_pages
from examples import MarkerError, find_examples
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from protocol_pages import PROTOCOL_DIR, render_protocol_pages

_generated: dict[str, tuple[str, str]] = {}


def _expand(nav: list[Any], placeholder: str, pages: dict[str, tuple[str, str]]) -> bool:
    """Replace the nav entry whose target is ``placeholder`` by the list of generated pages."""
    for i, item in enumerate(nav):
        if isinstance(item, dict):
            ((title, target),) = item.items()
            if target == placeholder:
                nav[i] = {title: [{nav_title: path} for path, (nav_title, _) in pages.items()]}
                return True
            if isinstance(target, list) and _expand(target, placeholder, pages):
                return True
    return False


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    try:
        protocol = render_protocol_pages()
        api = render_api_pages()
    except (ValueError, ImportError) as exc:
        raise PluginError(f"generated reference: {exc}") from exc
    _generated.clear()
    for placeholder, pages in ((f"{PROTOCOL_DIR}/index.md", protocol), (f"{API_DIR}/index.md", api)):
        if not _expand(config.nav or [], placeholder, pages):
            raise PluginError(f"mkdocs.yml: the nav needs an entry pointing at {placeholder}")
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
