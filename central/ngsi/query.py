"""Parsing and checking the query parameters of the NGSI-LD read API (ETSI GS CIM 009 V1.8.1).

Every malformed value raises `BadRequest`, which the server answers with the problem details of
BadRequestData (clause 5.5.2) and HTTP 400. Supported subsets are said where they are narrower
than the specification.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Pagination (clause 5.5.9): the page size when none is asked, and the largest one served.
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
# Temporal queries: the longest time range served in one request, and lastN's default and cap.
MAX_RANGE_S = 31 * 86400
DEFAULT_LAST_N = 100
MAX_LAST_N = 10000


class BadRequest(ValueError):
    """A query parameter the API cannot accept: answered with BadRequestData, HTTP 400."""


def int_param(params: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise BadRequest("%s must be a non-negative integer, got %r" % (name, raw))
    value = int(raw)
    if not lo <= value <= hi:
        raise BadRequest("%s must be between %d and %d, got %d" % (name, lo, hi, value))
    return value


def page(params: dict[str, str]) -> tuple[int, int]:
    """(limit, offset); limit 0 is allowed with count=true (only the count is wanted)."""
    return int_param(params, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT), int_param(params, "offset", 0, 0, 10**9)


def csv_param(params: dict[str, str], name: str) -> list[str] | None:
    raw = params.get(name)
    if raw is None:
        return None
    items = [x for x in raw.split(",") if x]
    if not items:
        raise BadRequest("%s is empty" % name)
    return items


def parse_time(raw: str, name: str) -> int:
    """An ISO 8601 date-time with a zone (Z or an offset) as unix seconds."""
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("%s is not an ISO 8601 date-time: %r" % (name, raw)) from None
    if dt.tzinfo is None:
        raise BadRequest("%s needs a time zone (Z or +hh:mm): %r" % (name, raw))
    return int(dt.timestamp())


@dataclass(frozen=True)
class TimeRange:
    start: int | None  # inclusive
    end: int | None  # exclusive
    last_n: int


def temporal(params: dict[str, str]) -> TimeRange:
    """timerel/timeAt/endTimeAt/lastN (clause 4.11): before, after or between, at most MAX_RANGE_S long.

    Without timerel the last lastN instances are served; with "after" the range ends MAX_RANGE_S
    after timeAt, with "before" it starts MAX_RANGE_S before it.
    """
    last_n = int_param(params, "lastN", DEFAULT_LAST_N, 1, MAX_LAST_N)
    rel = params.get("timerel")
    if rel is None:
        if "timeAt" in params or "endTimeAt" in params:
            raise BadRequest("timeAt and endTimeAt need timerel")
        return TimeRange(None, None, last_n)
    if "timeAt" not in params:
        raise BadRequest("timerel needs timeAt")
    at = parse_time(params["timeAt"], "timeAt")
    if rel == "before":
        return TimeRange(at - MAX_RANGE_S, at, last_n)
    if rel == "after":
        return TimeRange(at, at + MAX_RANGE_S, last_n)
    if rel != "between":
        raise BadRequest("timerel must be before, after or between, got %r" % rel)
    if "endTimeAt" not in params:
        raise BadRequest("timerel=between needs endTimeAt")
    end = parse_time(params["endTimeAt"], "endTimeAt")
    if end <= at:
        raise BadRequest("endTimeAt must be after timeAt (the range is reversed or empty)")
    if end - at > MAX_RANGE_S:
        raise BadRequest(
            "time range too large: %d s, at most %d s (%d days)" % (end - at, MAX_RANGE_S, MAX_RANGE_S // 86400)
        )
    return TimeRange(at, end, last_n)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_TERM = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(==|!=|>=|<=|>|<)(.+)")

Predicate = Callable[[dict[str, Any]], bool]


def q_filter(raw: str | None) -> Predicate | None:
    """The q language (clause 4.9) on an entity's key-values form: terms ``attr op value`` joined by
    ``;`` (and) and ``|`` (or, weaker than and). Values are numbers or "quoted strings". Narrower than
    the specification: no parentheses, no ranges (a..b), lists, patterns or attribute paths."""
    if raw is None:
        return None
    if not raw or "(" in raw or ")" in raw:
        raise BadRequest("q: empty or with parentheses (not supported): %r" % raw)
    alternatives = [[_term(t) for t in alt.split(";")] for alt in raw.split("|")]

    def pred(kv: dict[str, Any]) -> bool:
        return any(all(term(kv) for term in conj) for conj in alternatives)

    return pred


def _term(text: str) -> Predicate:
    m = _TERM.fullmatch(text)
    if not m:
        raise BadRequest("q: cannot read the term %r (want attr==value, attr>number …)" % text)
    attr, op, raw_value = m.groups()
    value: Any
    if len(raw_value) >= 2 and raw_value[0] == raw_value[-1] == '"':
        value = raw_value[1:-1]
        if op not in ("==", "!="):
            raise BadRequest("q: %s compares numbers, got the string %r" % (op, raw_value))
    else:
        try:
            value = float(raw_value)
        except ValueError:
            raise BadRequest("q: %r is neither a number nor a quoted string" % raw_value) from None
    fn = _OPS[op]

    def term(kv: dict[str, Any]) -> bool:
        have = kv.get(attr)
        if have is None or isinstance(have, (dict, list)) or isinstance(value, str) != isinstance(have, str):
            return False
        return bool(fn(have, value))

    return term
