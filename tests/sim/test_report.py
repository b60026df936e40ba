"""The end report: JSON summary and a self-contained HTML page with inline SVG."""

import json
import re

from simulator import report
from simulator.report import Sample, Span


def samples():
    out, arrived = [], 0
    for i in range(0, 61):
        t = i * 360.0
        gw = i * 10
        if not 20 <= i < 30:  # backhaul down from 2 h to 3 h: arrivals stall, then catch up
            arrived = gw if i >= 35 or i < 20 else arrived + (gw - arrived) // 2
        out.append(Sample(t, t / 1000, i * 11, i * 10, gw, arrived, gw - arrived))
    return out


def test_html_is_self_contained_and_shows_backlog_and_quantities(tmp_path):
    summary = {"scenario": "t", "generated": 600, "delivered_unique": 600, "lost_explained": 0,
               "lost_unexplained": 0, "virtual_seconds": 21600, "ok": True}  # fmt: skip
    arrivals = {("a", "pm2_5", 1763800000 + 300 * i): 10.0 + i % 7 for i in range(72)}
    arrivals.update({("a", "temperature", 1763800000 + 300 * i): -2.5 + i / 10 for i in range(72)})
    path = tmp_path / "r.html"
    report.write_html(path, summary, samples(), [Span("backhaul down", 7200, 10800)], arrivals, 1763800000)
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>") and "PASS" in html
    assert not re.search(r"<script|<link|<img|url\(|https?://(?!www\.w3\.org/2000/svg)", html)
    assert html.count("<svg") == 4  # backlog, readings, pm2_5, temperature
    assert "backhaul down" in html and "pm2_5" in html and "temperature" in html
    backlog_svg = html.split("<svg")[1]
    points = re.search(r'points="([^"]+)"', backlog_svg).group(1).split()
    ys = [float(p.split(",")[1]) for p in points]
    assert min(ys) < max(ys)  # the outage shows as a rise in the backlog line


def test_failure_verdict_and_json(tmp_path):
    summary = {"scenario": "t", "generated": 3, "delivered_unique": 1, "lost_explained": 1, "lost_unexplained": 1,
               "time_mismatch": 1}  # fmt: skip
    html = report.render_html(summary, [], [], {}, 0)
    assert "FAIL" in html and "under another measurement time" in html
    report.write_json(tmp_path / "x" / "s.json", summary)
    assert json.loads((tmp_path / "x" / "s.json").read_text()) == summary


def test_quantity_series_means_per_bucket():
    arrivals = {("a", "laeq", 100.0): 50.0, ("b", "laeq", 110.0): 60.0, ("a", "laeq", 700.0): 40.0}
    assert report.quantity_series(arrivals, 0, 600) == {"laeq": [(300.0, 55.0), (900.0, 40.0)]}
