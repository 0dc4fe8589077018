"""A snapshot of what a running broker counts: the record that ``client.stats`` and the metrics read.

The broker keeps plain integer counters as it routes (see `Broker.snapshot`);
nothing is sampled or aggregated while frames flow. A `BrokerStats` copies
them at one instant, on the event loop, so that every figure in it belongs
to the same moment: the metrics collector and the ``.broker`` RPC both read
snapshots and never the broker's own structures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["DEFAULT_METRICS_CLIENTS", "BrokerStats", "ClientStats", "RefusalReason"]

#: Clients with metric series of their own (the busiest), unless told otherwise: it bounds the series a scrape carries.
DEFAULT_METRICS_CLIENTS = 20

#: Why a registration was refused, by its handshake result code (the label of the refusal counter).
RefusalReason = str


class ClientStats(NamedTuple):
    """One registered client (primary or secondary) at the snapshot's instant (a tuple: a scrape makes one per client).

    ``r_*`` count what the broker read from it, ``w_*`` what it wrote (or
    queued) to it, as the original broker counts them; ``queue`` is the
    frames waiting for it now and ``drops`` the frames routed to it that its
    full queue could not take.
    """

    name: str
    kind: str
    r_frames: int
    r_bytes: int
    w_frames: int
    w_bytes: int
    queue: int
    drops: int
    subscriptions: int


@dataclass(frozen=True, slots=True)
class BrokerStats:
    """Every counter of a broker at one instant.

    ``ops_in`` maps a client operation (``message``, ``publish``...) to the
    frames and body bytes read for it; ``ops_out`` a kind of frame written
    (``message``, ``broadcast``, ``publish``, ``ack``) to the frames and
    bytes written. ``refused`` counts refused registrations by reason.
    """

    uptime: float
    r_frames: int
    r_bytes: int
    w_frames: int
    w_bytes: int
    clients: tuple[ClientStats, ...]
    ops_in: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    ops_out: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    drops: int = 0
    acl_denials: int = 0
    protocol_violations: int = 0
    refused: Mapping[RefusalReason, int] = field(default_factory=dict)
    queue_size: int = 0

    @property
    def subscriptions(self) -> int:
        """Subscription patterns held by all clients together."""
        return sum(client.subscriptions for client in self.clients)
