"""The "Operating elbusd" page against the code: its metric names, its Prometheus configuration, its ``.broker`` table.

The metric table must name exactly what a broker exposes; the alert rules
may only use those names; the ``.broker`` table must list exactly the
methods a real broker answers, with the keys they return.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCS = Path(__file__).resolve().parents[1]
PAGE = (DOCS / "operating.md").read_text()

metrics = pytest.importorskip("elbus_server._metrics")


def _yaml_blocks() -> list[Any]:
    return [yaml.safe_load(block) for block in re.findall(r"^```yaml\n(.*?)^```$", PAGE, re.M | re.S)]


def test_the_metric_table_names_every_metric_and_no_other() -> None:
    documented = re.findall(r"^\| `(elbus_\w+)` \|", PAGE, re.M)
    assert documented == metrics.metric_names()


def test_the_scrape_config_targets_the_metrics_address_of_the_example() -> None:
    scrape, _rules = _yaml_blocks()
    [job] = scrape["scrape_configs"]
    [target] = job["static_configs"][0]["targets"]
    assert f"--metrics {target}" in PAGE


def test_alert_rules_use_only_exposed_metrics() -> None:
    _scrape, rules = _yaml_blocks()
    exposed = set(metrics.metric_names())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    used = {name for expr in expressions for name in re.findall(r"\belbus_\w+", expr)}
    assert used and used <= exposed, used - exposed
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"ElbusSlowConsumers", "ElbusAccessDenied"} <= alerts


def _documented_methods() -> dict[str, str]:
    section = PAGE.split("## The `.broker` methods", 1)[1]
    return dict(re.findall(r"^\| `([\w.]+)` \| (.*) \|$", section, re.M))


async def test_the_broker_methods_table_is_what_the_broker_answers(tmp_path: Path) -> None:
    msgpack = pytest.importorskip("msgpack")
    elbus_aio = pytest.importorskip("elbus_aio")
    elbus_rpc = pytest.importorskip("elbus_rpc")
    from elbus_server import Broker

    documented = _documented_methods()
    async with Broker() as broker:
        path = await broker.serve_unix(tmp_path / "ops.sock")
        async with elbus_aio.Client(path, "docs.operating") as client:
            rpc = elbus_rpc.Rpc(client)
            assert await rpc.call(".broker", "benchmark.test", b"\x01echo", raw=True) == b"\x01echo"
            for method, returns in documented.items():
                if method == "benchmark.test":
                    continue
                result = msgpack.unpackb(await rpc.call(".broker", method, b"", raw=True))
                if isinstance(result, dict):
                    for key in result:
                        assert f'"{key}"' in returns, f"{method} returns {key!r}, the page does not say"
                    for entry in result.get("clients", [])[:1]:
                        for key in entry:
                            assert f'"{key}"' in returns, f"{method} clients carry {key!r}, the page does not say"
            with pytest.raises(elbus_rpc.RpcError) as unknown:
                await rpc.call(".broker", "no.such.method")
    assert unknown.value.code == -32601
    assert {"test", "info", "stats", "client.list", "client.stats", "benchmark.test"} == set(documented)
