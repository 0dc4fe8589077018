"""Run one broker under test in this process: ``python -m elbus_bench.serve ceiling|ours ADDRESS [uvloop|asyncio]``.

Each broker runs in its own subprocess so that the load generator and the
broker never share a core or a GIL. The file-descriptor limit is raised to its
hard maximum first (the memory stage connects 10,000 clients). The event loop
is uvloop unless ``asyncio`` is asked for. SIGTERM or SIGINT closes the broker
and exits.

With ``ELBUS_BENCH_METRICS=S`` in the environment (it reaches this process
from ``make bench``), our broker serves its Prometheus metrics and a thread
scrapes them every S seconds (1: 15 times as often as a usual scrape
interval): the figures then include what metrics cost the broker.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
import threading
import urllib.request

import uvloop

from . import ceiling
from .broker_settings import WINDOWED

__all__ = ["main", "raise_fd_limit"]


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit and return it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def _run(kind: str, address: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if kind == "ceiling":
        server = await ceiling.serve(address)
        await stop.wait()
        server.close()
        return
    import elbus_server  # only needed, and only importable, when our broker is installed

    scrape_every = float(os.environ.get("ELBUS_BENCH_METRICS") or 0)
    broker = elbus_server.Broker(**WINDOWED.kwargs(), metrics="127.0.0.1:0" if scrape_every > 0 else None)
    serving: asyncio.Future[object]
    if address.startswith("/"):
        serving = asyncio.ensure_future(broker.serve_unix(address))
    else:
        host, _, port = address.rpartition(":")
        serving = asyncio.ensure_future(broker.serve_tcp(host, int(port)))
    await asyncio.wait([serving, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        serving.result()  # a bind failure surfaces here, with its traceback, in the parent's stderr
        if broker.metrics_address is not None:
            threading.Thread(target=_scrape, args=(broker.metrics_address, scrape_every), daemon=True).start()
        await stop.wait()
    await broker.close()


def _scrape(address: tuple[str, int], every: float) -> None:
    url = "http://{}:{}/metrics".format(*address)
    while True:
        urllib.request.urlopen(url, timeout=10).read()
        threading.Event().wait(every)


def main(argv: list[str] | None = None) -> None:
    kind, address, *rest = argv or sys.argv[1:]
    loop = rest[0] if rest else "uvloop"
    if kind not in ("ceiling", "ours") or loop not in ("uvloop", "asyncio"):
        raise SystemExit("usage: python -m elbus_bench.serve ceiling|ours ADDRESS [uvloop|asyncio]")
    raise_fd_limit()
    if loop == "uvloop":
        uvloop.run(_run(kind, address))
    else:
        asyncio.run(_run(kind, address))


if __name__ == "__main__":
    main()
