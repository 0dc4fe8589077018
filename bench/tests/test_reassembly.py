"""The reassembly stage feeds real frames to both receive paths and gets each back whole, exactly once."""

from __future__ import annotations

import subprocess
import sys

import pytest
from elbus_bench.reassembly import PATHS, Cell, measure, table


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("pieces", [1, 3, 4096])  # 4,096 pieces of 64 KiB: 16 bytes each, headers split too
def test_a_frame_in_pieces_comes_out_whole_once(path: str, pieces: int) -> None:
    cell = measure(path, 64 * 1024, pieces)
    assert cell.pieces == pieces and cell.cpu_ms_per_mib > 0
    assert 63 / 1024 < cell.size_mib <= 64 / 1024


def test_the_table_has_a_column_per_piece_count_and_the_growth() -> None:
    cells = [Cell(p, s, n, s * n) for p in PATHS for s in (1.0, 2.0) for n in (1, 4)]
    lines = table(cells, (1, 4)).splitlines()
    assert len(lines) == 2 + 2 * len(PATHS)
    assert lines[2].split()[-5:] == ["1", "MiB", "1.00", "4.00", "4.0x"]
    assert lines[3].split()[-5:] == ["2", "MiB", "2.00", "8.00", "4.0x"]


def test_quick_run_prints_both_paths() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "elbus_bench.reassembly", "--quick"], capture_output=True, text=True, timeout=60, check=True
    )
    assert all(path in done.stdout for path in PATHS) and "256" in done.stdout
