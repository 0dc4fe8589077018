"""The benchmark's ``pure`` broker runs our pure-Python modules, ``ours`` the compiled ones, and the table compares them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from elbus_bench.brokers import BrokerProcess, ours_available
from elbus_bench.compilation import compiled_modules

pytestmark = pytest.mark.skipif(
    not ours_available() or not compiled_modules(), reason="nothing is compiled here: there is no pure broker to compare"
)


def _mapped_compiled_code(pid: int) -> set[str]:
    """The libraries of mypyc-compiled code the process has loaded: one per compiled package (``<hash>__mypyc``)."""
    with open(f"/proc/{pid}/maps") as maps:
        paths = {line.split()[-1] for line in maps if line.rstrip().endswith(".so")}
    return {Path(p).name.split(".")[0] for p in paths if "__mypyc" in Path(p).name}


async def test_ours_loads_the_compiled_code_of_both_packages_and_pure_none() -> None:
    async with BrokerProcess("ours") as ours, BrokerProcess("pure") as pure:
        assert len(_mapped_compiled_code(ours.pid)) == len({name.partition(".")[0] for name in compiled_modules()}) == 2
        assert _mapped_compiled_code(pure.pid) == set()


def test_the_table_compares_ours_with_pure(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "elbus_bench", "--quick", "--brokers", "ours,pure", "--forms", "wire"]
    command += ["--stages", "send+recv.qos.no", "--no-extras", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    assert "ours/pure" in done.stdout and "modules compiled with mypyc" in done.stdout
    data = json.loads(out.read_text())
    assert data["machine"]["compiled"] == compiled_modules()
    rows = {r["broker"]: r for r in data["stages"]}
    assert set(rows) == {"ours", "pure"}
    assert rows["ours"]["ratio_to_pure"] == rows["ours"]["median"]["rate"] / rows["pure"]["median"]["rate"]
    assert data["failures"] == []
