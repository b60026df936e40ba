"""The end report of a run: a JSON summary and a self-contained HTML page with inline SVG charts.

The page has no external assets (no scripts, fonts or images from anywhere): it opens from a CI
artifact or an e-mail. Charts: the gateway backlog over virtual time with the declared faults
shaded (an outage shows as a rising ramp and the catch-up as its fall), readings generated and
arrived per time bucket, and one chart per quantity of the values that reached the platform
(mean over nodes per bucket, by measurement time).
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge import vocab

_W, _H, _PAD = 760, 170, 42


@dataclass(frozen=True)
class Sample:
    """The runner's view at one moment of virtual time."""

    virtual_s: float
    wall_s: float
    uplinks: int  # frames put on the air
    generated: int  # readings the nodes produced
    at_gateway: int  # readings in frames the agent acknowledged
    arrived: int  # unique readings at the platform
    backlog: int  # at_gateway - arrived: readings buffered in the gateway or in flight


@dataclass(frozen=True)
class Span:
    label: str
    start_s: float
    end_s: float


def write_json(path: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _scale(lo: float, hi: float, a: float, b: float):  # type: ignore[no-untyped-def]
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) * (b - a) / span


def _fmt_hours(s: float) -> str:
    return "%dh%02d" % (s // 3600, (s % 3600) // 60)


def svg_chart(
    title: str,
    series: list[tuple[str, str, list[tuple[float, float]]]],
    x_range: tuple[float, float],
    spans: list[Span] = (),  # type: ignore[assignment]
    unit: str = "",
) -> str:
    """One line chart: series are (label, colour, points); x is virtual seconds from the start."""
    pts = [p for _, _, s in series for p in s]
    y_lo = min([p[1] for p in pts] + [0.0]) if pts else 0.0
    y_hi = max([p[1] for p in pts] + [1.0]) if pts else 1.0
    x0, x1 = x_range
    sx = _scale(x0, x1, _PAD, _W - 10)
    sy = _scale(y_lo, y_hi, _H - 24, 10)
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">'
        % (_W, _H, html.escape(title))
    ]
    for sp in spans:
        a, b = sx(max(x0, sp.start_s)), sx(min(x1, sp.end_s))
        out.append(
            '<rect x="%.1f" y="10" width="%.1f" height="%d" fill="#f4c7c3" opacity="0.6"><title>%s</title></rect>'
            % (a, max(1.5, b - a), _H - 34, html.escape(sp.label))
        )
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>' % (_PAD, _H - 24, _W - 10, _H - 24))
    out.append('<line x1="%d" y1="10" x2="%d" y2="%d" stroke="#888"/>' % (_PAD, _PAD, _H - 24))
    for frac in (0.0, 0.5, 1.0):
        x = x0 + frac * (x1 - x0)
        out.append(
            '<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>' % (sx(x), _H - 8, _fmt_hours(x))
        )
    for v in (y_lo, y_hi):
        out.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end">%.4g</text>' % (_PAD - 4, sy(v) + 3, v))
    for i, (label, colour, points) in enumerate(series):
        if points:
            path = " ".join("%.1f,%.1f" % (sx(x), sy(y)) for x, y in points)
            out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (colour, path))
        out.append(
            '<text x="%d" y="%d" font-size="11" fill="%s">%s</text>'
            % (_PAD + 8 + 150 * i, 22, colour, html.escape(label + (" (%s)" % unit if unit and i == 0 else "")))
        )
    out.append("</svg>")
    return "".join(out)


def quantity_series(
    arrivals: dict[tuple[str, str, float], float], start_unix: float, bucket_s: float
) -> dict[str, list[tuple[float, float]]]:
    """Per quantity, the mean arrived value per time bucket (x in seconds from the start)."""
    sums: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    for (_, q, t), v in arrivals.items():
        acc = sums[q][int((t - start_unix) // bucket_s)]
        acc[0] += v
        acc[1] += 1
    return {
        q: [((b + 0.5) * bucket_s, s / n) for b, (s, n) in sorted(buckets.items())]
        for q, buckets in sorted(sums.items(), key=lambda kv: vocab.BY_NAME[kv[0]][2] if kv[0] in vocab.BY_NAME else 99)
    }


def _charts(
    samples: list[Sample],
    spans: list[Span],
    arrivals: dict[tuple[str, str, float], float],
    start_unix: float,
    xr: tuple[float, float],
) -> list[tuple[str, str]]:
    """(title, SVG) of the backlog, the cumulative readings and each quantity at the platform."""
    charts = [
        (
            "Gateway backlog (readings stored or in flight, not yet at the platform)",
            svg_chart(
                "backlog",
                [("backlog", "#c0392b", [(s.virtual_s, s.backlog) for s in samples])],
                xr,
                spans,
                "readings",
            ),
        ),
        (
            "Readings generated and arrived (cumulative)",
            svg_chart(
                "readings",
                [
                    ("generated", "#7f8c8d", [(s.virtual_s, s.generated) for s in samples]),
                    ("at gateway", "#2980b9", [(s.virtual_s, s.at_gateway) for s in samples]),
                    ("arrived (unique)", "#27ae60", [(s.virtual_s, s.arrived) for s in samples]),
                ],
                xr,
                spans,
            ),
        ),
    ]
    bucket = max(60.0, xr[1] / 150)
    for q, points in quantity_series(arrivals, start_unix, bucket).items():
        unit = vocab.DISPLAY_UNITS.get(vocab.BY_NAME[q][1], "") if q in vocab.BY_NAME else ""
        charts.append(("%s at the platform, mean over nodes, by measurement time" % q,
                       svg_chart(q, [(q, "#8e44ad", points)], xr, spans, unit)))  # fmt: skip
    return charts


def _table(head: list[str], rows: list[list[Any]]) -> str:
    cells = lambda tag, row: "".join("<%s>%s</%s>" % (tag, html.escape(str(c)), tag) for c in row)  # noqa: E731
    return "<table><tr>%s</tr>%s</table>" % (cells("th", head), "".join("<tr>%s</tr>" % cells("td", r) for r in rows))


def _stats_row(label: str, st: dict[str, Any]) -> list[Any]:
    return [label, st.get("n"), st.get("p50"), st.get("p95"), st.get("p99"), st.get("max")]


def use_cases_html(uc: dict[str, Any]) -> str:
    """The use-case verdict (simulator/usecases.py): event latency, batch uplinks, alerts, positions."""
    out = ["<h2>Use cases: %s</h2>" % ("PASS" if uc.get("ok") else "FAIL")]
    ev = uc.get("events")
    if ev:
        counts = (ev["event_readings"], ev["event_readings_delivered"], ev["crossings"], len(ev["missed"]))
        text = "<p>Event uplinks: %d event readings, %d at the platform; %d crossings in the world, %d missed."
        out.append(text % counts + " Latency from the crossing in the world to the platform, virtual seconds:</p>")
        head = ["", "n", "p50", "p95", "p99", "max"]
        out.append(_table(head, [_stats_row("level crossings (above)", ev["latency_s"]),
                                 _stats_row("rise rate (over 5-10 min)", ev["rise_latency_s"])]))  # fmt: skip
    batch = uc.get("batch")
    if batch:
        rows = [[k.replace("_", " "), b["nodes"], b["readings"], b["delivered"], b["share"], b["latency_s"]["p50"],
                 b["latency_s"]["p95"], b["latency_s"]["p99"]] for k, b in batch.items()]  # fmt: skip
        out.append("<p>Batch (interval) uplinks of the same kind of node with and without event rules:</p>")
        out.append(_table(["", "nodes", "readings", "delivered", "share", "p50 s", "p95 s", "p99 s"], rows))
    for name, a in uc.get("alerts", {}).items():
        out.append("<p>Alert <b>%s</b> (limit %s): raised for %s (expected %s), cleared for %s (expected %s): %s</p>"
                   % (html.escape(name), a["limit"], ", ".join(a["raised"]) or "none",
                      ", ".join(a["expected_raised"]) or "none", ", ".join(a["cleared"]) or "none",
                      ", ".join(a["expected_cleared"]) or "none", "ok" if a["ok"] else "MISMATCH"))  # fmt: skip
    mob = uc.get("mobile")
    if mob:
        keys = ("readings", "fix_at_reading", "with_position", "position_without_fix", "no_position_with_fix",
                "wrong_position")  # fmt: skip
        out.append("<p>Mobile readings against the van's GNSS fix at their time:</p>")
        out.append(_table([k.replace("_", " ") for k in keys], [[mob[k] for k in keys]]))
    return "".join(out)


def render_html(
    summary: dict[str, Any],
    samples: list[Sample],
    spans: list[Span],
    arrivals: dict[tuple[str, str, float], float],
    start_unix: float,
) -> str:
    duration = float(summary.get("virtual_seconds") or (samples[-1].virtual_s if samples else 1.0))
    xr = (0.0, max(duration, samples[-1].virtual_s if samples else 1.0))
    charts = _charts(samples, spans, arrivals, start_unix, xr)
    rows = "".join(
        "<tr><th>%s</th><td>%s</td></tr>" % (html.escape(k), html.escape(json.dumps(v)))
        for k, v in summary.items()
        if not isinstance(v, list | dict)
    )
    faults = "".join(
        "<li>%s: %s to %s</li>" % (html.escape(s.label), _fmt_hours(s.start_s), _fmt_hours(s.end_s)) for s in spans
    )
    verdict = "PASS" if summary.get("lost_unexplained") == 0 and summary.get("ok", True) else "FAIL"
    body = "".join("<h2>%s</h2>%s" % (html.escape(t), c) for t, c in charts)
    if summary.get("use_cases"):
        body = use_cases_html(summary["use_cases"]) + body
    if summary.get("time_mismatch"):
        body = (
            "<p><b>%d of the unexplained readings arrived with all their values but under another measurement "
            "time</b>: the gateway stamped them with its own clock, not the run's time line.</p>"
            % summary["time_mismatch"]
        ) + body
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>edge sim: %s</title>"
        "<style>body{font-family:sans-serif;max-width:800px;margin:1em auto}th{text-align:left;padding-right:1em}"
        "h2{font-size:1em;margin:1.2em 0 .2em}.v{font-size:1.4em;font-weight:bold}</style></head><body>"
        "<h1>edge sim: %s</h1><p class='v'>%s: %s of %s readings arrived exactly once after dedup; "
        "%s lost and explained, %s lost unexplained.</p><table>%s</table><h2>Faults</h2><ul>%s</ul>%s"
        "<details><summary>Full summary (JSON)</summary><pre>%s</pre></details></body></html>\n"
    ) % (
        html.escape(str(summary.get("scenario", ""))),
        html.escape(str(summary.get("scenario", ""))),
        verdict,
        summary.get("delivered_unique"),
        summary.get("generated"),
        summary.get("lost_explained"),
        summary.get("lost_unexplained"),
        rows,
        faults or "<li>none</li>",
        body,
        html.escape(json.dumps(summary, indent=1, sort_keys=True)),
    )


def write_html(path: Path, *args: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(*args), encoding="utf-8")
