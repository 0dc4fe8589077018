"""``elbusd``: the standalone broker, with the original server's options.

    elbusd -B /tmp/elbus/elbus.sock -B 127.0.0.1:7777 -B fifo:/tmp/elbus.fifo

A ``-B`` value ending in ``.sock``, ``.socket`` or ``.ipc``, or starting
with ``/``, is a UNIX socket; ``fifo:PATH`` is a broker API FIFO; anything
else is ``HOST:PORT`` for TCP. SIGTERM or SIGINT: announce shutdown on
``.broker/warn``, stop accepting, close the clients, remove the socket and
pid files, exit 0. With ``--acl FILE`` (TOML, see `elbus_server.load_acl`)
only the clients and operations the file allows are served; SIGHUP
reads the file again and re-checks connected clients (a file that no
longer loads is reported and the rules in force stay). Runs on uvloop when it is installed.

With ``--cluster nats://HOST:PORT[,nats://…]`` brokers on several hosts form
one bus through NATS (the ``elbus-server[cluster]`` extra); ``--node`` names
this broker on it (default: the host name), the ``--cluster-*`` options
carry the NATS credentials and TLS files. Passwords and tokens may come from
the environment (``ELBUS_CLUSTER_PASSWORD``, ``ELBUS_CLUSTER_TOKEN``) to keep
them out of the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import signal
import ssl
import sys
from collections.abc import Callable, Sequence

from elbus_spec import DEFAULT_MAX_FRAME_LENGTH, DEFAULT_QUEUE_SIZE, parse_address

from ._acl import AclError, load_acl
from ._broker import (
    DEFAULT_BUF_SIZE,
    DEFAULT_BUSY_POLL,
    DEFAULT_MAX_SUBSCRIPTIONS,
    DEFAULT_MAX_TOPIC_DEPTH,
    DEFAULT_MAX_TOPIC_LENGTH,
    DEFAULT_QUEUE_BYTES,
    Broker,
    metrics_endpoint,
)
from ._cluster import load_cluster
from ._fifo import DEFAULT_FIFO_MODE
from ._paths import Owned
from ._stats import DEFAULT_METRICS_CLIENTS
from ._version import __version__

__all__ = ["Bind", "build_parser", "classify_bind", "main"]

logger = logging.getLogger("elbus_server")

Bind = tuple[str, str]  # (kind, address): kind is "unix", "tcp" or "fifo"


def classify_bind(value: str) -> Bind:
    """Which listener a ``-B`` value names: the clients' address rules, plus ``fifo:PATH``.

    ``:PORT`` listens on 127.0.0.1 only (`elbus_spec.parse_address` reads it so
    for the clients too). Raises `ValueError` for a value that is none of these.
    """
    if value.startswith("fifo:"):
        return "fifo", value[5:]
    try:
        endpoint = parse_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither a socket path nor HOST:PORT (nor fifo:PATH)") from None
    if isinstance(endpoint, str):
        return "unix", endpoint
    host, port = endpoint
    return "tcp", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind(value: str) -> Bind:
    try:
        return classify_bind(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _metrics_address(value: str) -> str:
    try:
        metrics_endpoint(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _positive(kind: Callable[[str], float], *, zero: bool = False) -> Callable[[str], float]:
    """An argparse type: a number above 0 (or 0 too, with ``zero``)."""
    def parse(text: str) -> float:
        value = kind(text)
        if value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"must be {'0 or more' if zero else 'positive'}: {text}")
        return value

    parse.__name__ = getattr(kind, "__name__", "number")
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="elbusd", description="elbus broker")
    p.add_argument("-B", "--bind", action="append", type=_bind, required=True, metavar="BIND",
                   help="UNIX socket path, HOST:PORT or fifo:PATH (repeatable)")
    p.add_argument("-P", "--pid-file", help="write the process id to this file (removed on exit)")
    p.add_argument("-D", "--daemonize", action="store_true", help="run in the background")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    p.add_argument("--log-syslog", action="store_true", help="log to syslog instead of stderr")
    p.add_argument("-w", "--workers", type=int, default=None, help="accepted for compatibility: the broker runs one event loop")
    p.add_argument("-t", "--timeout", type=_positive(float), default=5.0, help="timeout in seconds (default: 5)")
    p.add_argument("--buf-size", type=_positive(int), default=DEFAULT_BUF_SIZE,
                   help=f"bytes pending per client that force a write (default: {DEFAULT_BUF_SIZE})")
    p.add_argument("--buf-ttl", type=int, default=10,
                   help="µs to coalesce writes; under 1000 they go out at the end of the event-loop turn (default: 10)")
    p.add_argument("--busy-poll", type=_positive(int, zero=True), default=round(DEFAULT_BUSY_POLL * 1e6), metavar="US",
                   help="µs to keep polling instead of sleeping after input while traffic is dense; "
                        "0 turns it off (default: %(default)s)")
    p.add_argument("--queue-size", type=_positive(int), default=DEFAULT_QUEUE_SIZE,
                   help="frames queued per client behind its full socket before it is dropped as a slow consumer "
                        f"(default: {DEFAULT_QUEUE_SIZE})")
    p.add_argument("--queue-bytes", type=_positive(int), default=DEFAULT_QUEUE_BYTES,
                   help="bytes queued per client, its socket's write buffer included, before it is dropped as a slow "
                        f"consumer (default: {DEFAULT_QUEUE_BYTES})")
    p.add_argument("--max-topic-length", type=_positive(int), default=DEFAULT_MAX_TOPIC_LENGTH, metavar="BYTES",
                   help=f"longest topic a client may subscribe or publish to; longer is refused with 0x72 "
                        f"(default: {DEFAULT_MAX_TOPIC_LENGTH})")
    p.add_argument("--max-topic-depth", type=_positive(int), default=DEFAULT_MAX_TOPIC_DEPTH, metavar="LEVELS",
                   help=f"most '/'-separated levels of such a topic; deeper is refused with 0x72 "
                        f"(default: {DEFAULT_MAX_TOPIC_DEPTH})")
    p.add_argument("--max-subscriptions", type=_positive(int), default=DEFAULT_MAX_SUBSCRIPTIONS, metavar="N",
                   help=f"topic patterns one client may hold; more are refused with 0x72 "
                        f"(default: {DEFAULT_MAX_SUBSCRIPTIONS})")
    p.add_argument("--max-frame-length", type=_positive(int), default=DEFAULT_MAX_FRAME_LENGTH,
                   help=f"largest frame body a client may send, bytes (default: {DEFAULT_MAX_FRAME_LENGTH})")
    p.add_argument("--max-connections", type=_positive(int), default=None, metavar="N",
                   help="socket connections open at once; one more is closed at once (default: no limit)")
    p.add_argument("--socket-mode", type=lambda s: int(s, 8), default=None, metavar="OCTAL",
                   help="permission bits of UNIX socket files, e.g. 660")
    p.add_argument("--fifo-mode", type=lambda s: int(s, 8), default=DEFAULT_FIFO_MODE, metavar="OCTAL",
                   help="permission bits of broker API FIFOs; whoever may write sends as the broker "
                        f"(default: {DEFAULT_FIFO_MODE:o}, the owner only)")
    p.add_argument("--acl", metavar="FILE", help="access control rules (TOML); SIGHUP reloads (default: open)")
    p.add_argument("--metrics", type=_metrics_address, metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (needs elbus-server[metrics]; default: off)")
    p.add_argument("--metrics-clients", type=_positive(int, zero=True), default=DEFAULT_METRICS_CLIENTS, metavar="N",
                   help=f"busiest clients with metric series of their own (default: {DEFAULT_METRICS_CLIENTS})")
    p.add_argument("--no-extensions", dest="extensions", action="store_false",
                   help="refuse the BUS/RT operations EXCLUDE, UNEXCLUDE and PUBLISH_FOR as the original elbusd does, "
                        "by dropping the client (default: served)")
    c = p.add_argument_group("cluster", "brokers on many hosts form one bus through NATS (elbus-server[cluster])")
    c.add_argument("--cluster", metavar="URLS", help="NATS servers, nats://HOST:PORT[,nats://HOST:PORT...]")
    c.add_argument("--node", help="this broker's name on the bus (default: the host name)")
    c.add_argument("--cluster-user", metavar="USER", help="NATS user name")
    c.add_argument("--cluster-password", metavar="PASSWORD", default=os.environ.get("ELBUS_CLUSTER_PASSWORD"),
                   help="NATS password (default: $ELBUS_CLUSTER_PASSWORD)")
    c.add_argument("--cluster-token", metavar="TOKEN", default=os.environ.get("ELBUS_CLUSTER_TOKEN"),
                   help="NATS token (default: $ELBUS_CLUSTER_TOKEN)")
    c.add_argument("--cluster-creds", metavar="FILE", help="NATS credentials file (.creds: JWT and nkey seed)")
    c.add_argument("--cluster-nkey", metavar="FILE", help="NATS nkey seed file")
    c.add_argument("--cluster-tls-ca", metavar="FILE", help="CA certificates to verify the NATS servers (turns TLS on)")
    c.add_argument("--cluster-tls-cert", metavar="FILE", help="client certificate for NATS (with --cluster-tls-key)")
    c.add_argument("--cluster-tls-key", metavar="FILE", help="client certificate key for NATS")
    p.add_argument("--version", action="version", version=f"elbusd {__version__}")
    return p


def _cluster_options(args: argparse.Namespace) -> dict[str, object]:
    """The NATS credentials and TLS context from the ``--cluster-*`` options; raises `OSError` for unreadable files."""
    options: dict[str, object] = {
        "user": args.cluster_user, "password": args.cluster_password, "token": args.cluster_token,
        "creds": args.cluster_creds, "nkey_seed": args.cluster_nkey,
    }
    if args.cluster_tls_ca or args.cluster_tls_cert:
        try:
            context = ssl.create_default_context(cafile=args.cluster_tls_ca)
            if args.cluster_tls_cert:
                context.load_cert_chain(args.cluster_tls_cert, args.cluster_tls_key)
        except (ssl.SSLError, OSError) as exc:  # SSLError is an OSError too; both name a bad or missing file
            raise OSError(f"cluster TLS files: {exc}") from None
        options["tls"] = context
    return {k: v for k, v in options.items() if v is not None}


def _setup_logging(verbose: bool, syslog: bool) -> None:
    handler: logging.Handler
    if syslog:
        handler = logging.handlers.SysLogHandler(address="/dev/log")
        handler.setFormatter(logging.Formatter("elbusd[%(process)d]: %(levelname)s %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def _daemonize() -> None:
    """Detach: double fork, new session, standard streams to /dev/null."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


async def _listen(broker: Broker, kind: str, address: str, args: argparse.Namespace) -> str:
    """Start one listener; returns the line telling how to reach it."""
    if kind == "unix":
        await broker.serve_unix(address, mode=args.socket_mode)
        return f"  UNIX socket  {address}    e.g. elbus {address} broker test"
    if kind == "tcp":
        host, _, port = address.rpartition(":")
        host, bound = await broker.serve_tcp(host.strip("[]"), int(port))
        return f"  TCP          {host}:{bound}    e.g. elbus {host}:{bound} broker test"
    await broker.serve_fifo(address, mode=args.fifo_mode)
    return f"  broker FIFO  {address}    e.g. echo 'target hello' > {address}"


async def serve(args: argparse.Namespace) -> None:
    """Run the broker until SIGTERM or SIGINT."""
    buf_ttl = args.buf_ttl / 1e6
    acl = load_acl(args.acl) if args.acl else None
    cluster = load_cluster(args.cluster, args.node, **_cluster_options(args)) if args.cluster else None
    broker = Broker(
        cluster=cluster,
        acl=acl,
        timeout=args.timeout,
        queue_size=args.queue_size,
        queue_bytes=args.queue_bytes,
        max_frame_length=args.max_frame_length,
        buf_size=args.buf_size,
        buf_ttl=buf_ttl if buf_ttl >= 0.001 else 0.0,
        max_connections=args.max_connections,
        busy_poll=args.busy_poll / 1e6,
        max_topic_length=args.max_topic_length,
        max_topic_depth=args.max_topic_depth,
        max_subscriptions=args.max_subscriptions,
        extensions=args.extensions,
        metrics=args.metrics,
        metrics_clients=int(args.metrics_clients),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.acl:
        loop.add_signal_handler(signal.SIGHUP, _reload_acl, broker, args.acl)
    lines = []
    pid_file: Owned | None = None
    try:
        for kind, address in args.bind:
            try:
                lines.append(await _listen(broker, kind, address, args))
            except OSError as exc:
                raise OSError(exc.errno, f"cannot listen on {address}: {exc.strerror or exc}") from None
        if args.pid_file:
            with open(args.pid_file, "w") as f:
                f.write(f"{os.getpid()}\n")
            pid_file = Owned.of(args.pid_file)
        if broker.metrics_address is not None:
            host, port = broker.metrics_address
            lines.append(f"  metrics      http://{host}:{port}/metrics")
        print(f"elbusd {__version__} ready (pid {os.getpid()}); connect to:", *lines, sep="\n", flush=True)
        await stop.wait()
        logger.info("shutting down")
    finally:
        await broker.close()
        if pid_file is not None:  # only the one written here, if nobody replaced it since
            pid_file.remove()


def _reload_acl(broker: Broker, path: str) -> None:
    """SIGHUP: apply the access control file again; a bad file leaves the rules in force."""
    try:
        broker.set_acl(load_acl(path))
    except (OSError, AclError) as exc:
        logger.error("access control not reloaded: %s", exc)
        return
    logger.info("access control reloaded from %s", path)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.daemonize:
        _daemonize()
    _setup_logging(args.verbose, args.log_syslog)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(serve(args))
    except (OSError, AclError, RuntimeError, ValueError, ImportError) as exc:
        logger.error("elbusd: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
