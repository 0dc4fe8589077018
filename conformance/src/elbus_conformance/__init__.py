"""elbus conformance suite: frame traces replayed against any broker and any client.

Traces are text files (see the package README for the format): recorded
from the original broker, or authored from the protocol reference. Broker mode plays
their client side against a running broker; the trace player plays their
broker side, to exercise a client or to prove the runner itself.

The names here are what a user of the suite needs: load traces, run them
in broker or client mode, play them as a broker, report and render them.
The trace model's step classes, the byte patterns and the stream dissector
are the suite's own workings, in its private modules.
"""

from ._catalog import UnknownTrace, load_traces, trace_files, traces_dir
from ._client_mode import AsyncClientDriver, Driver, SyncClientDriver, run_client_trace, run_client_traces
from ._client_plan import ClientPlan, plan_client_trace
from ._coverage import coverage_table
from ._format import TraceSyntaxError, format_trace, load_trace, parse_trace
from ._model import Trace
from ._net import Timing
from ._player import TracePlayer
from ._render import render_markdown, render_site
from ._report import Failure, TraceResult, format_report
from ._runner import run_trace, run_traces

__version__ = "0.1.0"

__all__ = [
    # the traces
    "Trace",
    "TraceSyntaxError",
    "UnknownTrace",
    "format_trace",
    "load_trace",
    "load_traces",
    "parse_trace",
    "trace_files",
    "traces_dir",
    # broker mode
    "Failure",
    "Timing",
    "TraceResult",
    "format_report",
    "run_trace",
    "run_traces",
    # client mode and the trace player
    "AsyncClientDriver",
    "ClientPlan",
    "Driver",
    "SyncClientDriver",
    "TracePlayer",
    "plan_client_trace",
    "run_client_trace",
    "run_client_traces",
    # documentation
    "coverage_table",
    "render_markdown",
    "render_site",
    "__version__",
]
