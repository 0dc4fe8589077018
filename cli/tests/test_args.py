"""The command line's argument handling, in process (no broker needed)."""

from __future__ import annotations

import os
import socket
import tempfile

import pytest

from elbus_cli import DEFAULT_ADDRESS, default_name
from elbus_cli.app import build_parser, main, split_address, unknown_command
from elbus_cli.benchmark import STAGES


@pytest.mark.parametrize(
    ("argv", "address", "rest"),
    [
        (["broker", "info"], None, ["broker", "info"]),
        (["/tmp/x.sock", "broker", "info"], "/tmp/x.sock", ["broker", "info"]),
        (["127.0.0.1:7777", "listen", "-t", "a/#"], "127.0.0.1:7777", ["listen", "-t", "a/#"]),
        (["-n", "me", "--timeout", "2", "b.sock", "send", "x"], "b.sock", ["-n", "me", "--timeout", "2", "send", "x"]),
        (["--name=me", "--json", "b.sock", "publish", "t"], "b.sock", ["--name=me", "--json", "publish", "t"]),
        (["-n", "listen", "send", "x"], None, ["-n", "listen", "send", "x"]),  # a name that looks like a command
        (["send", "b.sock"], None, ["send", "b.sock"]),  # after the command, words belong to it
        ([":7777", "listen"], ":7777", ["listen"]),
        (["/tmp/x.sock"], "/tmp/x.sock", []),  # an address without a command: the command is missing
        (["nohost", "broker", "test"], "nohost", ["broker", "test"]),  # followed by a command: a (bad) address
        (["frobnicate"], None, ["frobnicate"]),  # neither an address nor followed by a command
        (["frobnicate", "now"], None, ["frobnicate", "now"]),
        (["-n", "me", "frobnicate"], None, ["-n", "me", "frobnicate"]),
        ([], None, []),
        (["--help"], None, ["--help"]),
    ],
)
def test_split_address(argv: list[str], address: str | None, rest: list[str]) -> None:
    assert split_address(argv) == (address, rest)


def test_default_address_is_where_make_run_starts_the_broker() -> None:
    assert DEFAULT_ADDRESS == os.path.join(tempfile.gettempdir(), "elbus", "elbus.sock")


def test_default_name_is_unique_per_host_and_process() -> None:
    assert default_name() == f"elbus-cli.{socket.gethostname()}.{os.getpid()}"


def test_global_options_before_and_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["-n", "me", "--timeout", "2.5", "--json", "broker", "test"])
    after = parser.parse_args(["broker", "test", "-n", "me", "--timeout", "2.5", "--json"])
    for args in (before, after):
        assert (args.name, args.timeout, args.json, args.action) == ("me", 2.5, True, "broker.test")
    defaults = parser.parse_args(["broker", "client.list"])
    assert (defaults.name, defaults.timeout, defaults.json, defaults.action) == (None, 5.0, False, "broker.client.list")


def test_command_arguments() -> None:
    parser = build_parser()
    send = parser.parse_args(["send", "target", "--qos", "3"])
    assert (send.action, send.target, send.payload, send.qos) == ("send", "target", None, 3)
    assert parser.parse_args(["publish", "a/b", "x"]).qos == 1
    call = parser.parse_args(["rpc", "call", ".broker", "test", "a=1", "b=x"])
    assert (call.action, call.target, call.method, call.params) == ("rpc.call", ".broker", "test", ["a=1", "b=x"])
    listen = parser.parse_args(["listen", "-t", "a/#", "--topic", "b"])
    assert listen.topics == ["a/#", "b"]
    bench = parser.parse_args(["benchmark"])
    assert (bench.workers, bench.payload_size, bench.iters, bench.stages) == (1, 100, 10_000, None)
    bench = parser.parse_args(
        ["benchmark", "-w", "4", "--payload-size", "0", "-i", "8", "--stage", "rpc.call0", "--stage", "send.qos.no"]
    )
    assert (bench.workers, bench.payload_size, bench.iters, bench.stages) == (4, 0, 8, ["rpc.call0", "send.qos.no"])


def test_benchmark_stage_names_are_the_originals() -> None:
    assert STAGES == (
        "send.qos.no",
        "send.qos.processed",
        "send+recv.qos.no",
        "send+recv.qos.processed",
        "rpc.call",
        "rpc.call+handle",
        "rpc.call0",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--timeout", "-1", "broker", "test"],
        ["--timeout", "soon", "broker", "test"],
        ["send", "x", "--qos", "7"],
        ["benchmark", "-i", "0"],
        ["benchmark", "--payload-size", "-1"],
        ["benchmark", "--payload-size", str(16 * 2**20 + 1)],  # over the frame size limit
        ["rpc"],
        ["rpc", "call", "target"],
        ["broker"],
        ["send"],
        ["--timeout", "0", "broker", "test"],
        ["benchmark", "-w", "0"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage: elbus" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "word"),
    [(["frobnicate"], "frobnicate"), (["/tmp/x.sock", "frobnicate"], "frobnicate"), (["--json", "nothing", "x"], "nothing")],
)
def test_an_unknown_command_is_named(argv: list[str], word: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert unknown_command(split_address(argv)[1]) == word
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"unknown command {word!r}" in err and "required" not in err


def test_no_command_is_not_an_unknown_one() -> None:
    assert unknown_command([]) is None and unknown_command(["-n", "me"]) is None
    assert unknown_command(["broker", "info"]) is None


@pytest.mark.parametrize("method", ["call", "call0"])
def test_rpc_params_are_shown_as_optional(method: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["rpc", method, "--help"])
    text = capsys.readouterr().out
    assert "target method [k=v ...]" in " ".join(text.split())  # the usage, however it is wrapped
    assert "k=v (optional, any number)" in " ".join(text.split())
    assert build_parser().parse_args(["rpc", method, "t", "m"]).params == []


def test_a_benchmark_payload_over_the_frame_size_limit_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["benchmark", "--payload-size", str(16 * 2**20)]).payload_size == 16 * 2**20
    with pytest.raises(SystemExit):
        build_parser().parse_args(["benchmark", "--payload-size", str(16 * 2**20 + 1)])
    assert "must be at most 16777216, the frame size limit (16 MiB)" in capsys.readouterr().err
