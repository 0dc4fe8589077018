"""Access control: which client may connect from where, and what it may send or subscribe to.

Sans-IO: an `Acl` is an ordered list of `Rule`s; `Acl.resolve` picks the
rule of one connecting client once, and the `Permissions` it returns answer
every later question about that client (one-to-one targets are cached).

Name masks are split on ``.`` like broadcast masks: ``?`` matches one
part, ``*`` one or more remaining parts, anything else the same part.
Topic masks are MQTT-style on ``/``: ``+`` matches one level, ``#`` the
remaining levels (zero or more). A mask that is just ``*`` (or ``#``)
allows everything.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any

from elbus_spec import BroadcastRequest, PublishForRequest, PublishRequest, primary_name

__all__ = ["Acl", "AclError", "Denied", "Permissions", "Rule", "load_acl"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_KEYS = {"name", "networks", "unix", "message", "broadcast", "publish", "subscribe"}


class AclError(ValueError):
    """An access control file or rule that cannot be used; the message says where and why."""


def name_matches(mask: str, name: str) -> bool:
    """True if ``name`` (or a broadcast mask taken as text) matches the name ``mask``.

    ``?`` does not match a literal ``*`` part, so a rule allowing
    ``sensor.?`` does not allow broadcasting to ``sensor.*``.
    """
    if mask == "*":
        return True
    m = mask.split(".")
    n = name.split(".")
    for i, part in enumerate(m):
        if part == "*":
            return len(n) > i
        if i >= len(n):
            return False
        if part == "?":
            if n[i] == "*":
                return False
        elif part != n[i]:
            return False
    return len(n) == len(m)


def topic_matches(mask: str, topic: str) -> bool:
    """True if ``topic`` (or a subscription pattern taken as text) matches the MQTT-style ``mask``.

    ``+`` does not match a literal ``#`` level, so ``a/+`` does not allow
    subscribing to ``a/#``.
    """
    if mask == "#":
        return True
    m = mask.split("/")
    t = topic.split("/")
    for i, part in enumerate(m):
        if part == "#":
            return True
        if i >= len(t):
            return False
        if part == "+":
            if t[i] == "#":
                return False
        elif part != t[i]:
            return False
    return len(t) == len(m)


@dataclass(frozen=True, slots=True)
class Rule:
    """What clients whose name matches ``name`` may do.

    ``networks`` are the TCP source networks allowed (None: any address);
    ``unix`` allows connections over UNIX sockets, which have no source
    address. The other fields are mask lists: empty denies that operation.
    """

    name: str
    networks: tuple[Network, ...] | None = None
    unix: bool = True
    message: tuple[str, ...] = ()
    broadcast: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()

    def admits(self, name: str, address: str | None) -> bool:
        """True if this rule applies to ``name`` connecting from ``address`` (None: a UNIX socket)."""
        if not name_matches(self.name, name):
            return False
        if address is None:
            return self.unix
        if self.networks is None:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks)


@dataclass(frozen=True, slots=True)
class Denied:
    """What remains of a denied request: ``count`` acks ``79``, then ``01`` if ``then_ok`` (QoS permitting).

    ``whole`` is False when the allowed rest of the request follows (and counts as the received frame).
    """

    op_id: int
    qos: int
    count: int = 1
    then_ok: bool = False
    whole: bool = True


@dataclass(slots=True)
class Permissions:
    """The rule of one connected client; `may_message` caches its answer per target."""

    rule: Rule
    _targets: dict[str, bool] = field(default_factory=dict)

    def may_message(self, target: str) -> bool:
        allowed = self._targets.get(target)
        if allowed is None:
            if len(self._targets) >= 4096:
                self._targets.clear()
            primary = primary_name(target)
            allowed = self._targets[target] = any(name_matches(m, primary) for m in self.rule.message)
        return allowed

    def may_broadcast(self, mask: str) -> bool:
        return any(name_matches(m, mask) for m in self.rule.broadcast)

    def may_publish(self, topic: str) -> bool:
        return any(topic_matches(m, topic) for m in self.rule.publish)

    def may_subscribe(self, topic: str) -> bool:
        return any(topic_matches(m, topic) for m in self.rule.subscribe)

    def allows(self, event: Any) -> bool:
        """True if the rule lets its client send ``event``: a MESSAGE (a `BrokerConnection` tuple), a
        `PublishRequest` or `PublishForRequest` (judged by its topic) or a `BroadcastRequest`; anything
        else is not this method's to judge (True)."""
        t = type(event)
        if t is tuple:
            return self.may_message(event[2])
        if t is PublishRequest or t is PublishForRequest:
            return self.may_publish(event.topic)
        if t is BroadcastRequest:
            return self.may_broadcast(event.mask)
        return True


@dataclass(frozen=True, slots=True)
class Acl:
    """Ordered rules: a client gets the first rule that admits its name and source; no rule, no connection."""

    rules: tuple[Rule, ...]

    def resolve(self, name: str, address: str | None) -> Permissions | None:
        """The permissions of ``name`` connecting from ``address`` (None: UNIX socket); None if refused.

        A secondary (``primary%%x``) is judged by its primary's name.
        """
        primary = primary_name(name)
        for rule in self.rules:
            if rule.admits(primary, address):
                return Permissions(rule)
        return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Acl:
        """Rules from parsed TOML (``[[client]]`` tables); raises `AclError` naming the bad entry."""
        unknown = set(data) - {"client"}
        if unknown:
            raise AclError(f"unknown top-level key(s): {', '.join(sorted(unknown))} (expected [[client]] tables)")
        entries = data.get("client", [])
        if not isinstance(entries, list):
            raise AclError("'client' must be an array of tables ([[client]])")
        return cls(tuple(_rule(i, entry) for i, entry in enumerate(entries, 1)))


def _masks(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AclError(f"{where}: {key!r} must be a list of non-empty strings")
    return tuple(value)


def _rule(index: int, entry: Any) -> Rule:
    where = f"client #{index}"
    if not isinstance(entry, dict):
        raise AclError(f"{where}: must be a table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise AclError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise AclError(f"{where}: 'name' (a name mask) is required")
    where = f"client #{index} ({name!r})"
    networks: tuple[Network, ...] | None = None
    if "networks" in entry:
        try:
            networks = tuple(ipaddress.ip_network(n) for n in _masks(where, "networks", entry["networks"]))
        except ValueError as exc:
            raise AclError(f"{where}: bad network: {exc}") from None
    unix = entry.get("unix", True)
    if not isinstance(unix, bool):
        raise AclError(f"{where}: 'unix' must be true or false")
    lists = {k: _masks(where, k, entry[k]) for k in ("message", "broadcast", "publish", "subscribe") if k in entry}
    return Rule(name, networks, unix, **lists)


def load_acl(path: str | os.PathLike[str]) -> Acl:
    """Read an access control TOML file; raises `AclError` (bad content) or `OSError` (unreadable)."""
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise AclError(f"{os.fspath(path)}: invalid TOML: {exc}") from None
    try:
        return Acl.from_dict(data)
    except AclError as exc:
        raise AclError(f"{os.fspath(path)}: {exc}") from None

