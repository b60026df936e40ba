"""Reading a scenario's TOML tables: typed getters that name the key, the fix and the leftovers.

Every problem raises ScenarioError with the dotted key, what is wrong and how to fix it.
"""

from __future__ import annotations

import math
import re
from typing import Any


class ScenarioError(ValueError):
    """An invalid scenario: which key, what is wrong, how to fix it."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        super().__init__("%s: %s (fix: %s)" % (key, problem, fix))
        self.key = key
        self.problem = problem
        self.fix = fix


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any, key: str) -> float:
    """Seconds from 300, 2.5, "90s", "5m", "2h", "1d" or "250ms"."""
    if isinstance(value, bool):
        raise ScenarioError(key, "expected a duration, got %r" % value, 'write seconds or a string like "5m"')
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    else:
        raise ScenarioError(key, "not a duration: %r" % (value,), 'write seconds or "90s", "5m", "2h", "1d"')
    if seconds < 0 or not math.isfinite(seconds):
        raise ScenarioError(key, "duration must be >= 0", "use a positive duration")
    return seconds


class Table:
    """A TOML table being read: typed getters that name the key on error, and a check for leftovers."""

    def __init__(self, data: Any, key: str) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(key, "expected a table, got %s" % type(data).__name__, "write [%s] as a table" % key)
        self.data = data
        self.key = key
        self.used: set[str] = set()

    def path(self, name: str) -> str:
        return "%s.%s" % (self.key, name) if self.key else name

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = None) -> Any:
        self.used.add(name)
        return self.data.get(name, default)

    def num(self, name: str, default: float, lo: float | None = None, hi: float | None = None) -> float:
        v = self.raw(name, default)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ScenarioError(self.path(name), "expected a number, got %r" % (v,), "write a number")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = "%s..%s" % ("" if lo is None else lo, "" if hi is None else hi)
            raise ScenarioError(self.path(name), "%r is outside %s" % (v, rng), "choose a value in %s" % rng)
        return float(v)

    def integer(self, name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        v = self.raw(name, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ScenarioError(self.path(name), "expected an integer, got %r" % (v,), "write a whole number")
        return int(self.num(name, v, lo, hi))

    def text(self, name: str, default: str | None = None, choices: tuple[str, ...] | None = None) -> str:
        v = self.raw(name, default)
        if v is None:
            raise ScenarioError(self.path(name), "missing", 'add %s = "..."' % name)
        if not isinstance(v, str) or not v:
            raise ScenarioError(self.path(name), "expected a non-empty string, got %r" % (v,), "write a string")
        if choices is not None and v not in choices:
            raise ScenarioError(self.path(name), "unknown value %r" % v, "use one of: %s" % ", ".join(choices))
        return v

    def duration(self, name: str, default: float | None = None) -> float:
        v = self.raw(name, default)
        if v is None:
            raise ScenarioError(self.path(name), "missing", 'add %s = "5m" (or seconds)' % name)
        return parse_duration(v, self.path(name))

    def hexstr(self, name: str, digits: int, default: str | None = None) -> str:
        v = self.text(name, default).lower()
        if len(v) != digits or any(c not in "0123456789abcdef" for c in v):
            raise ScenarioError(
                self.path(name), "expected %d hex digits, got %r" % (digits, v), "write %d hex" % digits
            )
        return v

    def point(self, name: str) -> tuple[float, float]:
        v = self.raw(name)
        ok = isinstance(v, list) and len(v) == 2 and all(isinstance(c, int | float) for c in v)
        if not ok:
            raise ScenarioError(self.path(name), "expected [x, y] in metres, got %r" % (v,), "write %s = [0, 0]" % name)
        return float(v[0]), float(v[1])

    def rows(self, name: str, width: int, default: tuple[tuple[float, ...], ...], least: int = 0) -> Any:
        """At least `least` lists of `width` numbers, as tuples of floats."""
        v = self.raw(name, [list(r) for r in default])
        ok = isinstance(v, list) and len(v) >= least
        if not ok or any(not isinstance(p, list) or len(p) != width or not all(is_number(c) for c in p) for p in v):
            fix = "write %s = [[%s], ...]" % (name, ", ".join(["0"] * width))
            raise ScenarioError(self.path(name), "expected %d+ lists of %d numbers (metres)" % (least, width), fix)
        return tuple(tuple(float(c) for c in p) for p in v)

    def table(self, name: str) -> Table:
        return Table(self.raw(name, {}), self.path(name))

    def array(self, name: str) -> list[Table]:
        v = self.raw(name, [])
        if not isinstance(v, list):
            raise ScenarioError(self.path(name), "expected an array of tables", "write [[%s]] blocks" % name)
        return [Table(item, "%s[%d]" % (self.path(name), i)) for i, item in enumerate(v)]

    def done(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            known = ", ".join(sorted(self.used))
            raise ScenarioError(self.path(extra[0]), "unknown key", "remove it or use one of: %s" % known)


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def dataclass_from(table: Table, cls: Any, skip: tuple[str, ...] = ()) -> Any:
    """Numbers of a flat settings table, defaults from the dataclass (fields ending in _s: durations).

    skip: fields the caller reads itself (they keep their defaults here)."""
    defaults = cls()
    values: dict[str, Any] = {}
    for name in cls.__dataclass_fields__:
        d = getattr(defaults, name)
        if name in skip:
            values[name] = d
        elif name.endswith("_s"):
            values[name] = table.duration(name, d)
        elif isinstance(d, int) and not isinstance(d, bool):
            values[name] = table.integer(name, d, lo=0)
        else:
            values[name] = table.num(name, d, lo=0)
    table.done()
    return cls(**values)
