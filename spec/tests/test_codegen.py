"""The committed codec is what the generator makes of the spec, and the generator refuses what it cannot do."""

from __future__ import annotations

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
