"""The ``[ngsi]`` section of the platform config, read by ``edge platform serve|export|csource``.

```toml
[database]
dsn = "postgresql://postgres@127.0.0.1:5432/edge"   # the platform's database (shared with the ingest)

[ngsi]
bind = "127.0.0.1:1026"          # loopback unless allow_remote = true
allow_remote = false
token = ""                       # when set, requests need "Authorization: Bearer <token>"
bicycle_counters = []            # dev_euis whose counts are bicycles (TrafficFlowObserved), others people
timezone = "Europe/Paris"        # local days and hours of the indicators and aggregates
```

Every key of [ngsi] is optional; the defaults are the ones shown (DEFAULT_BIND, DEFAULT_TZ).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from central.indicators import DEFAULT_TZ
from central.ngsi.api import Options
from central.ngsi.server import DEFAULT_BIND, ServeConfig, split_bind


class SettingsError(ValueError):
    """A config file that cannot be used: one line for the user."""


@dataclass
class Settings:
    serve: ServeConfig
    timezone: str = DEFAULT_TZ


_KEYS = {"bind", "allow_remote", "token", "bicycle_counters", "timezone"}


def load(path: str | Path, bind: str | None = None) -> Settings:
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise SettingsError("cannot read %s: %s" % (path, e.strerror)) from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError("%s is not valid TOML: %s" % (path, e)) from None
    dsn = doc.get("database", {}).get("dsn")
    if not isinstance(dsn, str) or not dsn:
        raise SettingsError("%s: [database] dsn is missing" % path)
    sec = doc.get("ngsi", {})
    unknown = sorted(set(sec) - _KEYS)
    if unknown:
        raise SettingsError("%s: unknown key(s) in [ngsi]: %s" % (path, ", ".join(unknown)))
    cfg = ServeConfig(dsn=dsn, bind=bind or sec.get("bind", DEFAULT_BIND), allow_remote=bool(sec.get("allow_remote")),
                      token=sec.get("token") or None)
    try:
        split_bind(cfg.bind, cfg.allow_remote)
    except ValueError as e:
        raise SettingsError(str(e)) from None
    counters = sec.get("bicycle_counters", [])
    if not isinstance(counters, list) or not all(isinstance(c, str) and re.fullmatch("[0-9a-f]{16}", c)
                                                 for c in counters):
        raise SettingsError("[ngsi] bicycle_counters must be a list of dev_euis (16 lower-case hex digits)")
    cfg.options = Options(frozenset(counters))
    tz = sec.get("timezone", DEFAULT_TZ)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError("[ngsi] timezone %r is not a time zone name" % tz) from None
    return Settings(serve=cfg, timezone=tz)
