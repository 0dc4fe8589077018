"""How much the suite covers, per area of the protocol: traces, steps, and the step runs of each mode.

`make test` plays every trace in broker mode and, in client mode, against
both client libraries (elbus_aio and elbus_client), except the traces that
are broker-only. The table counts what that amounts to; it is printed by
``elbus-conformance coverage`` and kept in the package README.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._client_plan import plan_client_trace
from ._model import Trace
from ._report import count_steps

__all__ = ["AREAS", "BROKER_TRANSPORTS", "CLIENT_LIBRARIES", "coverage_table"]

# Trace group -> the area of the protocol it covers, in the order of the protocol reference.
AREAS = {
    "handshake": "handshake",
    "messages": "messages",
    "broadcast": "broadcast",
    "pubsub": "pubsub",
    "secondaries": "secondaries",
    "broker-rpc": "broker RPC",
    "announcements": "announcements",
    "ping": "ping/NOP",
    "protocol-errors": "protocol errors",
    "timeouts": "timeouts",
    "extensions": "BUS/RT extensions",
}
# `make test` runs broker mode over a UNIX socket and over TCP, client mode once per library (elbus_aio, elbus_client).
BROKER_TRANSPORTS = 2
CLIENT_LIBRARIES = 2


def coverage_table(traces: Iterable[Trace]) -> str:
    """A Markdown table: per area, traces and steps, what each mode plays, and the step runs of one test run.

    Broker mode plays every trace. Client mode counts the traces a library
    plays (``of them raw``: steps a raw socket plays instead, because no
    library writes them); ``broker-only`` traces run in broker mode only.
    ``step runs`` is traces x steps x modes: every step once per broker
    transport, and the client-mode steps once per library.
    Groups outside `AREAS` get a row of their own after the known ones.
    """
    rows: dict[str, list[int]] = {}
    for trace in traces:
        plan = plan_client_trace(trace)
        steps = count_steps(trace)
        row = rows.setdefault(AREAS.get(trace.group, trace.group), [0] * 7)
        ran = not plan.reason
        for index, value in enumerate([1, steps, int(ran), steps if ran else 0, plan.raw_steps if ran else 0, int(not ran), 0]):
            row[index] += value
    for row in rows.values():
        row[6] = BROKER_TRANSPORTS * row[1] + CLIENT_LIBRARIES * row[3]
    order = [area for area in AREAS.values() if area in rows] + sorted(set(rows) - set(AREAS.values()))
    total = [sum(rows[area][i] for area in order) for i in range(7)]
    lines = [
        "| area | traces | steps | client mode: traces | client mode: steps | of them raw | broker-only | step runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in [*((area, rows[area]) for area in order), ("**total**", total)]:
        lines.append(f"| {name} | " + " | ".join(str(value) for value in row) + " |")
    return "\n".join(lines) + "\n"
