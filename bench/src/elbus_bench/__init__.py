"""elbus benchmark: our broker and clients against a minimal ceiling broker and NATS.

Run ``python -m elbus_bench --help``. Each broker under test runs in its own
subprocess (`BrokerProcess`); the load comes either from our async client
(what users get) or from the wire-level generator (`wire`), which writes
pre-encoded frames so that the broker is the bottleneck.
"""

from .brokers import BrokerProcess, BrokerStartError
from .measure import STAGES, Measurement, StageError

__all__ = ["STAGES", "BrokerProcess", "BrokerStartError", "Measurement", "StageError"]
