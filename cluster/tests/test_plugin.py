"""The broker finds the plug-in through its entry point and never imports it; a link object works as well."""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import elbus_server
from elbus_cluster import NatsCluster
from elbus_server.plugin import load_cluster


def test_the_server_never_imports_the_cluster() -> None:
    for path in Path(elbus_server.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("elbus_cluster"), path
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("elbus_cluster") for alias in node.names), path


def test_the_entry_point_names_the_link() -> None:
    [point] = entry_points(group="elbus_server.cluster")
    assert point.load() is NatsCluster
    link = load_cluster("nats://127.0.0.1:1,nats://127.0.0.1:2", "n1", token="t")
    assert isinstance(link, NatsCluster) and link.node == "n1" and link.servers == ["nats://127.0.0.1:1", "nats://127.0.0.1:2"]
