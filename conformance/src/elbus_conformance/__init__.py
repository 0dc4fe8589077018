"""elbus conformance suite: frame traces replayed against any broker and any client.

Traces are text files (see the package README for the format): recorded
from the original broker, or authored from the protocol reference. Broker mode plays
their client side against a running broker; the trace player plays their
broker side, to exercise a client or to prove the runner itself.
"""

from ._catalog import UnknownTrace, load_traces, trace_files, traces_dir
from ._client_mode import AsyncClientDriver, Driver, SyncClientDriver, run_client_trace, run_client_traces
from ._client_plan import ClientPlan, Receive, plan_client_trace
from ._coverage import coverage_table
from ._format import TraceSyntaxError, format_step, format_trace, load_trace, parse_trace
from ._importer import import_capture, import_directory
from ._model import Close, Closed, Comment, Connect, Do, Expect, Send, Silence, Step, Trace
from ._net import Timing
from ._pattern import Length, Literal, Mismatch, MsgPack, TemplateError, example, match_unit, parse_template
from ._player import TracePlayer
from ._render import render_group, render_markdown, render_site
from ._report import Failure, TraceResult, format_report
from ._runner import run_trace, run_traces
from ._stream import Field, Side, Splitter, Stage, dissect

__version__ = "0.1.0"

__all__ = [
    "ClientPlan",
    "Receive",
    "plan_client_trace",
    "coverage_table",
    "AsyncClientDriver",
    "Driver",
    "SyncClientDriver",
    "run_client_trace",
    "run_client_traces",
    "UnknownTrace",
    "load_traces",
    "trace_files",
    "traces_dir",
    "Timing",
    "TracePlayer",
    "render_group",
    "render_markdown",
    "render_site",
    "Failure",
    "TraceResult",
    "format_report",
    "run_trace",
    "run_traces",
    "TraceSyntaxError",
    "format_step",
    "format_trace",
    "load_trace",
    "parse_trace",
    "import_capture",
    "import_directory",
    "Close",
    "Closed",
    "Comment",
    "Connect",
    "Do",
    "Expect",
    "Send",
    "Silence",
    "Step",
    "Trace",
    "Length",
    "Literal",
    "Mismatch",
    "MsgPack",
    "TemplateError",
    "example",
    "match_unit",
    "parse_template",
    "Field",
    "Side",
    "Splitter",
    "Stage",
    "dissect",
    "__version__",
]
