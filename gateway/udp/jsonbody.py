"""JSON bodies of packet-forwarder datagrams, bounded before they are parsed.

Python's json parser recurses once per nesting level, so a body nested a few hundred levels deep
ends in RecursionError wherever the parsed object is walked later (a metrics save, a log line).
The depth is counted on the raw bytes first, strings left out; a body too deep or too large is
BadJSON and never reaches the parser. Numbers such as NaN, Infinity or 1e999 (which Python's json
accepts) are left to the field checks of each packet type, which want them finite and in range.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.udp.errors import BadJSON

# The deepest object a forwarder sends is an rxpk's rsig list: {"rxpk":[{"rsig":[{...}]}]}, depth 4.
MAX_DEPTH = 8
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\\')
_OPEN = frozenset(b"[{")


def _brackets(body: bytes) -> bytes:
    """The brackets of body outside strings, in order."""
    marks = body.translate(None, _NOT_STRUCTURE)  # brackets, quotes, backslashes: a few per rxpk
    if b"\\" not in marks:
        # no escapes: every quote opens or closes a string. A string without brackets is a pair of
        # adjacent quotes here; when dropping such pairs leaves no quote, no string held a bracket
        # (the first one that does would leave its opening quote alone) and the rest are the
        # brackets outside strings. Otherwise they lie between a closing and the next opening quote.
        bare = marks.replace(b'""', b"")
        if b'"' not in bare:
            return bare
        return b"".join(marks.split(b'"')[::2])
    return _STRING.sub(b"", body).translate(None, _NOT_BRACKET)


def depth(body: bytes) -> int:
    """Deepest nesting of arrays and objects in body, strings left out (stops counting past MAX_DEPTH)."""
    d = deepest = 0
    for b in _brackets(body):
        if b in _OPEN:
            d += 1
            if d > deepest:
                deepest = d
                if d > MAX_DEPTH:
                    break
        else:
            d -= 1
    return deepest


def loads(body: bytes, what: str, max_bytes: int) -> Any:
    """The JSON value of body; BadJSON when it is larger than max_bytes, nested deeper than
    MAX_DEPTH, or not valid UTF-8 JSON."""
    if len(body) > max_bytes:
        raise BadJSON("%s JSON of %d bytes exceeds %d" % (what, len(body), max_bytes))
    if depth(body) > MAX_DEPTH:
        raise BadJSON("%s JSON nested deeper than %d levels" % (what, MAX_DEPTH))
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as e:
        raise BadJSON("%s JSON: %s" % (what, str(e)[:80])) from None
