"""The fallback serves every method nothing else serves, whatever its name."""

from __future__ import annotations

from elbus_rpc import CallEvent, raw
from elbus_rpc._handlers import Methods


def _call(method: str) -> CallEvent:
    return CallEvent("caller", method, b"", 1, False)


def test_order_is_decorated_then_handler_object_then_fallback() -> None:
    methods = Methods()

    class Obj:
        def a_b(self, params: object, event: CallEvent) -> str:
            return "object"

    @raw
    def every(params: bytes, event: CallEvent) -> bytes:
        return event.method.encode()

    methods.register("x", lambda p, e: "decorated", False)
    methods.handler = Obj()
    assert methods.find("nope") is None  # without a fallback: -32601
    methods.fallback = every
    assert methods.find("x")[0](None, _call("x")) == "decorated"  # type: ignore[index]
    assert methods.find("a.b")[0](None, _call("a.b")) == "object"  # type: ignore[index]
    for name in ("nope", "", "_x", ".x", "__class__"):
        func, is_raw = methods.find(name)  # type: ignore[misc]
        assert is_raw and func(b"", _call(name)) == name.encode()
