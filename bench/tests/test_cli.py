"""`python -m elbus_bench` prints the table, a progress line on stderr, and writes the JSON file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_quick_run_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "elbus_bench", "--quick", "--brokers", "ceiling", "--forms", "wire"]
    command += ["--stages", "send+recv.qos.no,publish.fanout", "--no-extras", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert "send+recv.qos.no" in done.stdout and "publish.fanout" in done.stdout
    assert "payload 100 B, 2 workers, UNIX socket" in done.stdout
    assert "done in" in done.stderr
    data = json.loads(out.read_text())
    rows = {(r["broker"], r["form"], r["stage"]): r for r in data["stages"]}
    assert set(rows) == {("ceiling", "wire", "send+recv.qos.no"), ("ceiling", "wire", "publish.fanout")}
    fanout = rows[("ceiling", "wire", "publish.fanout")]
    assert fanout["workers"] == 1 and fanout["payload_size"] == 100 and fanout["transport"] == "unix"
    assert fanout["median"]["unit"] == "deliveries/s" and fanout["median"]["rate"] > 0
    assert fanout["runs"][0]["count"] == 10 * 5_000  # the quick count of publications, times 10 subscribers
    assert data["failures"] == []


def test_unknown_stage_is_rejected_with_the_list_of_stages() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "elbus_bench", "--stages", "send.fast"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "unknown stage(s) send.fast" in done.stderr and "rpc.latency" in done.stderr
