"""The committed codec is what the generator makes of the spec, and the generator refuses what it cannot do."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from construct import Array, Int8ul, Struct

from elbus_spec import codegen


def test_committed_codec_is_fresh() -> None:
    assert codegen.TARGET.read_text() == codegen.generate(), "run `make codegen`"


def test_check_mode_reports_fresh() -> None:
    assert codegen.main(["--check"]) == 0


def test_unknown_construct_is_refused() -> None:
    with pytest.raises(TypeError, match="does not know"):
        codegen.layout(Struct("xs" / Array(3, Int8ul)))


def test_greedy_must_be_last() -> None:
    from construct import GreedyBytes

    with pytest.raises(TypeError, match="last"):
        codegen.layout(Struct("a" / GreedyBytes, "b" / GreedyBytes))


def test_fixed_after_variable_is_refused() -> None:
    from construct import CString

    with pytest.raises(TypeError, match="precede"):
        codegen.layout(Struct("a" / CString("utf8"), "b" / Int8ul))


def test_check_without_construct_names_the_extra_and_exits_2() -> None:
    """``-S`` leaves site-packages out, so construct is missing while elbus_spec (which needs nothing) is found."""
    src = Path(codegen.__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-S", "-m", "elbus_spec.codegen", "--check"],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "[spec]" in result.stderr and "pip install" in result.stderr
    assert "Traceback" not in result.stderr


def test_decoders_are_typed_with_exact_tuples() -> None:
    """Every decoder says what it returns field by field: no ``tuple[Any, ...]`` anywhere in the codec.

    Read from the source: a compiled codec keeps no annotations.
    """
    source = codegen.TARGET.read_text()
    assert "Any" not in source
    from elbus_spec import schema

    returns = {node.name: ast.unparse(node.returns) for node in ast.parse(source).body
               if isinstance(node, ast.FunctionDef) and node.returns is not None}
    hints = {name: returns[f"decode_{name}"] for name in schema.STRUCTS}
    assert hints["addressed_body"] == "tuple[str, bytes]"
    assert hints["client_header"] == "tuple[int, int, int, int]"
    assert hints["topics_body"] == "tuple[list[str]]"
    assert hints["nop"] == "tuple[Never, ...]"  # the empty tuple, as mypyc can compile it
    for name, hint in hints.items():
        assert hint.startswith("tuple[") and ("..." not in hint or hint == "tuple[Never, ...]"), name
