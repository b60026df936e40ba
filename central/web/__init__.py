"""The platform's web page, served by ``edge platform serve`` beside the NGSI-LD API.

Static files (``static/``: the page, its script and uPlot, copied there by ``npm run build:web``
so nothing is fetched at run time) and two JSON routes the NGSI-LD API has no operation for:
``/page-api/indicators?days=N`` (Lden per day and PM daily means of the last N local days, N 1..31)
and ``/page-api/alerts`` (the platform alerts not cleared).
Everything else the page shows it reads from the NGSI-LD API, as any client would.
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from central import indicators as ind
from central.ngsi.query import int_param
from central.ngsi.store import Store

STATIC = Path(__file__).parent / "static"
INDICATOR_DAYS = 7  # days the page's tables show by default


def indicators(store: Store, days: int, tz: str) -> dict[str, Any]:
    """Lden days and PM days of every device over the ``days`` days up to the latest observation
    (not the wall clock: data that arrive late or a replayed archive still show)."""
    last = store.last_time()
    end = (int(time.time()) if last is None else last) + 1
    start = end - days * 86400
    data = store.series(None, start - 86400, end)  # a day more: the first local day starts before
    out: dict[str, Any] = {"noise": [], "pm": [], "timezone": tz, "days": days}
    for eui in sorted(data):
        s = data[eui]
        if s.get("laeq"):
            out["noise"] += [{"dev_eui": eui, **r} for r in ind.noise_days(s["laeq"], tz)][-days:]
        for q in ind.WHO_24H:
            if s.get(q):
                out["pm"] += [{"dev_eui": eui, **r} for r in ind.pm_days(s[q], q, tz)][-days:]
    return out


def page_routes(cfg, tz: str) -> Callable[[str, str], tuple[int, str, bytes] | None]:
    """The page's routes for central.ngsi.server: (path, query) -> (status, content type, body) or None."""

    def route(path: str, query: str) -> tuple[int, str, bytes] | None:
        if path == "/page-api/indicators":
            params = dict(parse_qsl(query))
            days = int_param(params, "days", INDICATOR_DAYS, 1, 31)
            with Store(cfg.dsn) as store:
                body = indicators(store, days, tz)
            return 200, "application/json", json.dumps(body).encode()
        if path == "/page-api/alerts":
            with Store(cfg.dsn) as store:
                return 200, "application/json", json.dumps(store.open_alerts()).encode()
        name = "index.html" if path in ("/", "/index.html") else path.removeprefix("/static/")
        if path not in ("/", "/index.html") and not path.startswith("/static/"):
            return None
        file = (STATIC / name).resolve()
        if STATIC.resolve() not in file.parents or not file.is_file():
            return None
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return 200, ctype, file.read_bytes()

    return route
