"""The documentation site: it builds strictly, covers every public name, and its examples run.

The site is built once per session with the real ``mkdocs build --strict``
into a temporary directory; the examples of the guides run as real Python
processes, against a real broker when they need one.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from docgen_api import LEADS, WITHOUT_API_PAGE, documented_packages, packages_without_page
from docgen_docstrings import fence_literal_blocks
from docgen_examples import (
    DEFAULT_ADDRESS,
    DEFAULT_TCP_ADDRESS,
    CodeExample,
    MarkerError,
    find_examples,
    guide_pages,
    readme_pages,
    required_modules,
)
from docgen_layout import annotate
from docgen_protocol import check_coverage, render_protocol_pages
from docgen_protocol import examples as protocol_examples
from docs_runner import BrokerThread, ExampleRun, missing_modules, wait_registered

from elbus_spec import codec, schema
from elbus_spec.codegen import layout

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

BUILD_TIMEOUT = 60


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = mkdocs_build(REPO / "mkdocs.yml", out)
    assert result.returncode == 0, result.stderr
    return out


def test_strict_build_produces_every_page(site: Path) -> None:
    for page in ("", "quickstart", "concepts", "elbusd", "protocol", "protocol/constants", "api", "api/elbus_spec"):
        assert (site / page / "index.html").exists(), page


@pytest.mark.parametrize("package", list(documented_packages()))
def test_api_reference_has_every_public_name(site: Path, package: str) -> None:
    html = (site / "api" / package / "index.html").read_text()
    anchors = set(re.findall(rf'id="{re.escape(package)}\.([^"]+)"', html))
    names = importlib.import_module(package).__all__
    assert names
    assert [name for name in names if name not in anchors] == []


def _tree_packages() -> dict[str, str]:
    """``import name -> directory`` of every installed package of the repository's tree."""
    found = {}
    for pyproject in sorted(REPO.glob("*/pyproject.toml")):
        names = [p.parent.name for p in (pyproject.parent / "src").glob("*/__init__.py")]
        if len(names) == 1 and importlib.util.find_spec(names[0]) is not None:
            found[names[0]] = pyproject.parent.name
    return found


@pytest.fixture(scope="module")
def full_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The site of a copy of the repository whose Makefile installs every package of the tree.

    Whatever the root Makefile lists today, this proves the reference builds
    strictly for each package as soon as it joins the build.
    """
    packages = _tree_packages()
    repo = tmp_path_factory.mktemp("repo")
    shutil.copytree(DOCS, repo / "docs", ignore=shutil.ignore_patterns("__pycache__", "tests"))
    shutil.copy(REPO / "mkdocs.yml", repo / "mkdocs.yml")
    for directory in packages.values():
        (repo / directory).symlink_to(REPO / directory)
    (repo / "Makefile").write_text(f"PACKAGES := {' '.join(packages.values())}\n")
    result = mkdocs_build(repo / "mkdocs.yml", repo / "site")
    assert result.returncode == 0, result.stderr
    return repo / "site", packages


def test_api_reference_of_every_package_in_the_tree(full_site: tuple[Path, dict[str, str]]) -> None:
    site, packages = full_site
    assert "elbus_spec" in packages
    for package, directory in packages.items():
        if directory in WITHOUT_API_PAGE:
            assert not (site / "api" / package).exists(), package
            continue
        html = (site / "api" / package / "index.html").read_text()
        anchors = set(re.findall(rf'id="{re.escape(package)}\.([^"]+)"', html))
        names = importlib.import_module(package).__all__
        assert [name for name in names if name not in anchors] == [], package


def test_conformance_traces_are_pages_when_the_suite_is_built(full_site: tuple[Path, dict[str, str]]) -> None:
    site, packages = full_site
    if "elbus_conformance" not in packages:
        pytest.skip("elbus_conformance is not installed")
    index = (site / "conformance" / "traces" / "index.html").read_text()
    groups = [p.name for p in (site / "conformance" / "traces").iterdir() if p.is_dir()]
    assert groups and all(f'href="{group}/"' in index for group in groups)


def _headings(html: str, level: int) -> list[str]:
    return re.findall(rf'<h{level} id="([^"]+)"', html)


@pytest.mark.parametrize("package", list(documented_packages()))
def test_api_pages_open_with_the_main_class(site: Path, package: str) -> None:
    html = (site / "api" / package / "index.html").read_text()
    first = _headings(html, 2)[0]
    if package in LEADS:
        assert first == f"{package}.{LEADS[package][0]}"
    else:
        assert first == "classes"


@pytest.mark.parametrize("package", list(documented_packages()))
def test_api_pages_show_no_rest_markup_no_all_and_no_bare_assignments(site: Path, package: str) -> None:
    html = (site / "api" / package / "index.html").read_text()
    article = html[html.index("<article") : html.index("</article>")]
    prose = re.sub(r"<pre.*?</pre>|<code.*?</code>", "", article, flags=re.S)
    assert "::" not in re.sub(r"\[::1\]", "", prose)
    assert f'id="{package}.__all__"' not in html
    text = re.sub(r"<[^>]+>", "", article)
    assert re.findall(r"^\s*(\w+) = \1$", text, re.M) == []


def test_api_pages_show_the_addresses_of_make_run(site: Path) -> None:
    pages = {p.parent.name: p.read_text() for p in (site / "api").glob("*/index.html")}
    assert [name for name, html in pages.items() if "/tmp/elbus.sock" in html] == []
    assert DEFAULT_ADDRESS in pages["elbus_aio"] and DEFAULT_ADDRESS in pages["elbus_client"]


def test_bench_has_no_api_page_and_the_index_says_why(site: Path) -> None:
    assert not (site / "api" / "elbus_bench").exists()
    index = (site / "api" / "index.html").read_text()
    assert "<code>bench/</code>" in index and "benchmark program" in index
    assert "elbus_bench" not in (site / "api" / "elbus_spec" / "index.html").read_text()


def test_literal_blocks_become_fenced_python() -> None:
    text = "Use it::\n\n    client.send('x')\n        more\n\nAfter.\n\n::\n\n    alone()"
    assert fence_literal_blocks(text) == (
        "Use it:\n\n```python\nclient.send('x')\n    more\n```\n\nAfter.\n\n```python\nalone()\n```"
    )
    assert fence_literal_blocks("Args:\n    x: one.") == "Args:\n    x: one."
    assert fence_literal_blocks("[::1]:7777 is IPv6") == "[::1]:7777 is IPv6"


def test_protocol_reference_shows_every_structure_and_example(site: Path) -> None:
    html = "".join(p.read_text() for p in (site / "protocol").rglob("index.html"))
    for name, construct in schema.STRUCTS.items():
        attr = next(a for a, v in vars(schema).items() if v is construct and a.isupper())
        assert f"<code>{attr}</code>" in html, name
    for example in protocol_examples():
        assert example.data.hex(" ") in html, example.call


def test_annotated_fields_cover_the_encoded_bytes_exactly() -> None:
    header, body = layout(schema.CLIENT_HEADER), layout(schema.ADDRESSED_BODY)
    frame = codec.encode_message_frame(7, 1, "a.b", b"xyz")
    segments = annotate(frame, [header, body])
    assert b"".join(s.data for s in segments) == frame
    assert [s.field for s in segments] == ["op_id", "flags", "length", "target", "NUL", "payload"]
    assert segments[1].value == "qos 1 = `QoS.PROCESSED`; op 18 = `Op.MESSAGE`"
    # an RPC request carried as the payload of a MESSAGE: the payload field gives way to the request's fields
    call = codec.encode_message_frame(2, 1, ".broker", codec.encode_rpc_request(5, "test", b"\x80"))
    nested = annotate(call, [header, body, layout(schema.RPC_REQUEST)])
    assert b"".join(s.data for s in nested) == call
    assert [s.field for s in nested][4:] == ["NUL", "type", "call_id", "method", "NUL", "params"]
    assert {s.part for s in nested} == {0, 1, 2}
    with pytest.raises(ValueError, match="NUL-terminated"):
        annotate(frame[:12], [header, body])
    with pytest.raises(ValueError, match="left over"):
        annotate(frame + b"!", [header, layout(schema.ACK)[:0]])


def test_protocol_pages_follow_the_schema_sections() -> None:
    pages = render_protocol_pages()
    assert next(iter(pages)) == "protocol/index.md"
    client = pages["protocol/client-to-broker.md"][1]
    # offsets of the client header, computed from the spec: op_id at 0, flags at 4, length at 5
    assert "| 0 | 4 | u32 | `op_id` |" in client
    assert "| 4 | 1 | u8 bit-field | `flags` |" in client
    assert "| 5 | 4 | u32 | `length` |" in client
    assert "| variable | variable | bytes (to the end) | `payload` |" in client


def test_a_python_block_without_marker_fails_the_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    (docs / "concepts.md").write_text("# Concepts\n\n```python\nprint('untested')\n```\n")
    config = (REPO / "mkdocs.yml").read_text()
    config = config.replace("- docs/hooks/", f"- {DOCS}/hooks/").replace("docs_dir: docs", f"docs_dir: {docs}")
    (tmp_path / "mkdocs.yml").write_text(config)
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "needs an <!-- example" in result.stderr
    with pytest.raises(MarkerError):
        find_examples("x.md", "text\n\n```python\npass\n```\n")


# --- the examples of the guides and of the READMEs -----------------------------------------------

GUIDES = {page: find_examples(page, text) for page, text in (guide_pages(DOCS) | readme_pages(REPO)).items()}
PAGES_WITH_EXAMPLES = [page for page, found in GUIDES.items() if found]


def _spec_only(example: CodeExample) -> bool:
    return example.kind == "run" and required_modules(example) <= {"elbus_spec", *sys.stdlib_module_names}


SPEC_ONLY = [e for found in GUIDES.values() for e in found if _spec_only(e)]


def test_package_readmes_are_among_the_pages_whose_examples_run() -> None:
    for readme in ("README.md", "client-sync/README.md", "client-async/README.md", "rpc/README.md"):
        assert readme in GUIDES, readme
    assert {"client-sync/README.md", "client-async/README.md", "rpc/README.md"} <= set(PAGES_WITH_EXAMPLES)


def test_examples_use_the_addresses_of_make_run() -> None:
    """The addresses the examples are written with are those `make run` serves (TMPDIR unset: /tmp)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "MAKEFLAGS", "MAKELEVEL")}
    plan = subprocess.run(["make", "-n", "run"], capture_output=True, text=True, cwd=REPO, env=env, timeout=30)
    elbusd = [line for line in plan.stdout.splitlines() if "elbusd" in line]
    assert elbusd and f"-B {DEFAULT_ADDRESS} -B {DEFAULT_TCP_ADDRESS}" in elbusd[-1], plan.stdout + plan.stderr
    assert all(DEFAULT_ADDRESS in e.code for found in GUIDES.values() for e in found if e.kind == "broker" and not e.background)
    assert [e.id for found in GUIDES.values() for e in found if "/tmp/elbus.sock" in e.code] == []  # not make run's


def test_some_examples_need_nothing_but_the_spec() -> None:
    # (every python fence has a marker: find_examples raised at collection otherwise; examples for
    # client users import from the client packages, so the spec-only ones are the sans-IO layer's)
    assert len(SPEC_ONLY) >= 2


@pytest.mark.parametrize("example", SPEC_ONLY, ids=lambda e: e.id)
def test_spec_only_examples_run_everywhere(example: CodeExample, tmp_path: Path) -> None:
    """Whatever else is installed, the examples that need only the spec run."""
    run = ExampleRun(example, tmp_path, None)
    result = run.finish()
    assert result[0] == 0, run.describe(result)
    assert all(text in result[1] for text in example.expects), run.describe(result)


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES)
def test_guide_examples_run(page: str, tmp_path: Path) -> None:
    """Every example of a page, in page order; a background example runs until the page's last one is done."""
    found = GUIDES[page]
    missing = missing_modules(found)
    if missing:
        pytest.skip(f"{page} needs {', '.join(missing)}")
    for example in found:  # a fragment may await at the top level: it is the body of a coroutine
        compile(example.code, example.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    runnable = [e for e in found if e.kind != "fragment"]
    needs_broker = any(e.kind == "broker" for e in runnable)
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(BrokerThread(tmp_path / "bus.sock")) if needs_broker else None
        background: list[ExampleRun] = []
        try:
            for example in runnable:
                run = ExampleRun(example, tmp_path, broker.addresses if broker and example.kind == "broker" else None)
                if example.background:
                    background.append(run)
                    assert broker is not None
                    wait_registered(broker.path, example.options["name"], time.monotonic() + 15)
                    time.sleep(0.3)  # registered; give it a moment to subscribe
                    continue
                result = run.finish()
                assert result[0] == 0, run.describe(result)
                assert all(text in result[1] for text in example.expects), run.describe(result)
        finally:
            results = [(run, run.stop()) for run in background]
        for run, result in results:
            assert all(text in result[1] for text in run.example.expects), run.describe(result)


# --- command lines documented as they are -----------------------------------------------------


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings if option not in ("-h", "--help")}


def test_elbusd_page_documents_every_option_and_no_other() -> None:
    elbusd = pytest.importorskip("elbus_server.elbusd")
    documented = set(re.findall(r"^\| `(-[^`]+)`(?:, `(--[\w-]+)[^`]*`)?", (DOCS / "elbusd.md").read_text(), re.M))
    on_page = {word.split()[0] for pair in documented for word in pair if word}
    assert on_page == _options(elbusd.build_parser())


def _commands(parser: argparse.ArgumentParser, prefix: str = "elbus") -> dict[str, argparse.ArgumentParser]:
    """Every leaf command line (``elbus rpc call``) and its parser."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _commands(sub, f"{prefix} {name}")
    return found or {prefix: parser}


def test_cli_page_shows_every_command_and_option() -> None:
    app = pytest.importorskip("elbus_cli.app")
    text = (DOCS / "cli.md").read_text()
    parser = app.build_parser()
    commands = _commands(parser)
    assert [command for command in commands if command not in text] == []
    options = _options(parser).union(*(_options(sub) for sub in commands.values()))
    assert sorted(option for option in options if f"`{option}" not in text) == []


# --- the generators refuse what they cannot describe ---------------------------------------------


def test_an_encoder_without_worked_example_is_refused() -> None:
    found = protocol_examples()
    check_coverage(found)
    without_acks = [e for e in found if not e.call.startswith("codec.encode_ack(")]
    with pytest.raises(ValueError, match="encode_ack"):
        check_coverage(without_acks)


def test_api_packages_come_from_the_makefile(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("PACKAGES := spec\n")
    (tmp_path / "spec").symlink_to(REPO / "spec")
    assert documented_packages(tmp_path) == {"elbus_spec": "spec"}
    (tmp_path / "Makefile").write_text("PACKAGES := spec ghost\n")
    (tmp_path / "ghost" / "src" / "elbus_ghost_docs_test").mkdir(parents=True)
    (tmp_path / "ghost" / "src" / "elbus_ghost_docs_test" / "__init__.py").write_text("")
    with pytest.raises(ImportError):
        documented_packages(tmp_path)
    # a package directory of the build without a page: only when WITHOUT_API_PAGE says why
    (tmp_path / "Makefile").write_text("PACKAGES := spec bench\n")
    assert documented_packages(tmp_path) == {"elbus_spec": "spec"}
    assert packages_without_page(tmp_path) == {"bench": WITHOUT_API_PAGE["bench"]}
    (tmp_path / "Makefile").write_text("PACKAGES := spec nothing-yet\n")
    with pytest.raises(ValueError, match="nothing-yet/src/"):
        documented_packages(tmp_path)
    (tmp_path / "Makefile").write_text("all:\n")
    with pytest.raises(ValueError, match="PACKAGES"):
        documented_packages(tmp_path)
