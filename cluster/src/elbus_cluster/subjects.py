"""How elbus topics, topic patterns and node names become NATS subjects, reversibly.

A NATS subject is a list of tokens joined by ``.``; a token is never empty
and holds no whitespace, ``*`` and ``>`` are wildcards (one token; one or
more trailing tokens). An elbus topic is a list of levels joined by ``/``;
a level may be empty and may hold any character. So each level becomes one
token:

- printable ASCII other than ``.``, ``*``, ``>``, ``~``, ``+`` and ``#`` is
  kept as is (``sensors``, ``room-1``, ``a:b``);
- any other character is written ``~XX`` per UTF-8 byte (``a.b`` becomes
  ``a~2Eb``, a space ``~20``, ``~`` itself ``~7E``);
- an empty level is the token ``~`` alone (never produced by the rule above).

``+`` in a pattern becomes ``*`` and ``#`` becomes ``>``; a literal level
``+`` or ``#`` in a topic is escaped, so it can never turn into a wildcard.
elbus's ``a/#`` does not match ``a`` and NATS's ``a.>`` does not match ``a``
either: the wildcards keep their meaning. The topic ``""`` is one empty
level: the subject ``PREFIX.~``.
"""

from __future__ import annotations

__all__ = [
    "escape_token",
    "pattern_subject",
    "topic_from_subject",
    "topic_subject",
    "unescape_token",
]

_ESCAPE = "~"
_EMPTY_LEVEL = "~"
_KEPT = frozenset(chr(c) for c in range(0x21, 0x7F)) - set(".*>~+#")


def escape_token(level: str) -> str:
    """One topic level (or node name) as a NATS subject token that maps back to it."""
    if not level:
        return _EMPTY_LEVEL
    if all(c in _KEPT for c in level):
        return level
    out: list[str] = []
    for c in level:
        if c in _KEPT:
            out.append(c)
        else:
            out.extend(f"~{b:02X}" for b in c.encode())
    return "".join(out)


def unescape_token(token: str) -> str:
    """The level a token stands for; raises `ValueError` for a token `escape_token` cannot produce."""
    if token == _EMPTY_LEVEL:
        return ""
    if _ESCAPE not in token:
        return token
    data = bytearray()
    i = 0
    while i < len(token):
        c = token[i]
        if c == _ESCAPE:
            hexa = token[i + 1 : i + 3]
            if len(hexa) != 2:
                raise ValueError(f"truncated escape in subject token {token!r}")
            data.append(int(hexa, 16))
            i += 3
        else:
            data.extend(c.encode())
            i += 1
    return data.decode()


def topic_subject(prefix: str, topic: str) -> str:
    """The subject a publication to ``topic`` travels on."""
    return prefix + "." + ".".join(escape_token(level) for level in topic.split("/"))


def pattern_subject(prefix: str, pattern: str) -> str:
    """The subject (with NATS wildcards) that receives what the elbus ``pattern`` matches.

    ``#`` as a whole level ends the pattern, as elbus reads it; inside a
    level it is an ordinary character.
    """
    tokens: list[str] = []
    for level in pattern.split("/"):
        if level == "#":
            tokens.append(">")
            break
        tokens.append("*" if level == "+" else escape_token(level))
    return prefix + "." + ".".join(tokens)


def topic_from_subject(prefix: str, subject: str) -> str:
    """The topic of a publication subject made by `topic_subject`; raises `ValueError` otherwise."""
    if not subject.startswith(prefix + "."):
        raise ValueError(f"subject {subject!r} is not under {prefix!r}")
    return "/".join(unescape_token(t) for t in subject[len(prefix) + 1 :].split("."))
