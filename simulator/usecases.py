"""The use-case verdict of a run: event uplinks against the world's threshold crossings, the batch
uplinks of nodes with and without events, the gateway's level alerts, mobile positions against
the van's fix (docs/simulator.md "Use cases in the verdict").

- **Events.** For every `above` rule of a node, the physics gives the times its quantity rose
  through the level (simulator/physics). A crossing reached the platform with the first event
  reading of that node, from CROSSING_SLACK_S before the crossing on (echo noise can show a level
  early: a negative latency), whose value is above the level; its latency is that reading's
  arrival (virtual time) minus the crossing. A crossing without such an event reading at the
  platform is `missed`. `rise_per_h` rules are measured
  from the moment the true rise rate passes the limit; the firmware judges rates over 5-10
  minutes (firmware/events.py), so they lag by design and are reported apart.
- **Batch.** The interval readings (not the event readings) of nodes with event rules beside those
  of the nodes of the same use case without: delivered share and latency.
- **Alerts.** Per alert (`flood_level`, `container_full`), the nodes whose delivered values went
  above the gateway's limit must be the nodes it raised the alert for, and the nodes whose newest
  delivered value fell back below after a raise the nodes it cleared it for.
- **Mobile.** A van's reading carries a position iff the receiver had a fix at the reading's time,
  and then the position of that fix (to the wire resolution): never a stale one.
"""

from __future__ import annotations

from typing import Any

from gateway.config import AlertsSection
from simulator.airstats import percentile
from simulator.checker import Ledger
from simulator.physics.world import UseCaseWorld, crossings, role
from simulator.scenario import Scenario

# Echo noise may show a level before the true value reaches it: seconds on a river in flood, minutes
# in a container filling a few % an hour. The value condition (above the level) keeps an earlier
# level's event from matching.
CROSSING_SLACK_S = 600.0
POSITION_TOLERANCE_DEG = 2e-5  # two wire steps of latitude/longitude (edge/vocab.py: 1e-5)
LEVEL_ALERTS = (("flood_level", "water_level", "flood_level_m"), ("container_full", "fill_level", "container_full_pct"))


def stats(values: list[float]) -> dict[str, Any]:
    v = sorted(values)
    r = lambda x: None if x is None else round(x, 1)  # noqa: E731
    return {"n": len(v), "p50": r(percentile(v, 50)), "p95": r(percentile(v, 95)), "p99": r(percentile(v, 99)),
            "max": r(v[-1] if v else None)}  # fmt: skip


def verdict(sc: Scenario, ledger: Ledger, world: UseCaseWorld) -> dict[str, Any]:
    out: dict[str, Any] = {}
    events = _events(sc, ledger, world)
    if events:
        out["events"] = events
        out["batch"] = _batch(sc, ledger)
    alerts = _alerts(sc, ledger)
    if alerts:
        out["alerts"] = alerts
    mobile = _mobile(sc, ledger, world)
    if mobile:
        out["mobile"] = mobile
    out["ok"] = (
        not events.get("missed")
        and all(a["ok"] for a in alerts.values())
        and not mobile.get("position_without_fix")
        and not mobile.get("no_position_with_fix")
        and not mobile.get("wrong_position")
    )
    return out


def _events(sc: Scenario, ledger: Ledger, world: UseCaseWorld) -> dict[str, Any]:
    t0, t1 = sc.start_unix, sc.start_unix + sc.duration_s
    above: list[dict[str, Any]] = []
    rise: list[dict[str, Any]] = []
    readings = 0
    delivered = 0
    for node in sc.nodes:
        if not node.events or role(node) not in ("river", "container"):
            continue
        mine = sorted((r for k, r in ledger.readings.items() if k in ledger.events and k[0] == node.name),
                      key=lambda r: r.t)  # fmt: skip
        readings += len(mine)
        delivered += sum(1 for r in mine if (r.node, r.seq) in ledger.arrived_at)
        for q, kind, limit in _rules(node.events):
            if kind == "above":

                def level(t: float, n: str = node.name, q: str = q) -> float:
                    return world.value(n, q, t)

                for c in crossings(level, limit, t0, t1):
                    ev = next((r for r in mine if r.t >= c - CROSSING_SLACK_S and r.values.get(q, -1e9) > limit), None)
                    above.append(_crossing(node.name, q, "above", limit, c, ev, ledger))
            else:

                def rate(t: float, n: str = node.name, q: str = q) -> float:
                    return (world.value(n, q, t + 1) - world.value(n, q, t - 1)) / 2 * 3600

                for c in crossings(rate, limit, t0, t1):
                    ev = next((r for r in mine if r.t >= c - CROSSING_SLACK_S), None)
                    rise.append(_crossing(node.name, q, "rise_per_h", limit, c, ev, ledger))
    if not above and not rise and not readings:
        return {}
    lat = [c["latency_s"] for c in above if c["latency_s"] is not None]
    return {
        "event_readings": readings,
        "event_readings_delivered": delivered,
        "crossings": len(above),
        "latency_s": stats(lat),
        "missed": [c for c in above if c["latency_s"] is None],
        "rise_crossings": len(rise),
        "rise_latency_s": stats([c["latency_s"] for c in rise if c["latency_s"] is not None]),
        "detail": above + rise,
    }


def _rules(events: dict[str, Any]) -> list[tuple[str, str, float]]:
    out = []
    for r in events.get("rules", []):
        kind = "above" if "above" in r else "rise_per_h"
        out.append((r["quantity"], kind, float(r[kind])))
    return out


def _crossing(node: str, q: str, kind: str, limit: float, at: float, ev: Any, ledger: Ledger) -> dict[str, Any]:
    arrived = ledger.arrived_at.get((ev.node, ev.seq)) if ev is not None else None
    return {
        "node": node, "quantity": q, "rule": kind, "limit": limit, "crossed_at": round(at, 1),
        "event_t": ev.t if ev is not None else None, "event_seq": ev.seq if ev is not None else None,
        "arrived_at": round(arrived, 1) if arrived is not None else None,
        "latency_s": round(arrived - at, 1) if arrived is not None else None,
    }  # fmt: skip


def _batch(sc: Scenario, ledger: Ledger) -> dict[str, Any]:
    """Interval readings of the ranging nodes with event rules and of those without."""
    out = {}
    for label, with_events in (("with_events", True), ("without_events", False)):
        names = {n.name for n in sc.nodes if role(n) in ("river", "container") and bool(n.events) == with_events}
        keys = [k for k in ledger.readings if k[0] in names and k not in ledger.events]
        got = [k for k in keys if k in ledger.arrived_at]
        lat = [ledger.arrived_at[k] - ledger.readings[k].t for k in got]
        out[label] = {"nodes": len(names), "readings": len(keys), "delivered": len(got),
                      "share": round(len(got) / len(keys), 4) if keys else None, "latency_s": stats(lat)}  # fmt: skip
    return out


def _alerts(sc: Scenario, ledger: Ledger) -> dict[str, dict[str, Any]]:
    settings = sc.gateway.extra.get("alerts", {})
    by_eui = {n.dev_eui: n.name for n in sc.nodes}
    out = {}
    for alert, q, key in LEVEL_ALERTS:
        nodes = {k[0] for k in ledger.arrivals if k[1] == q}
        if not nodes:
            continue
        limit = float(settings.get(key, getattr(AlertsSection, key)))
        expect_raised, expect_cleared = set(), set()
        for node in nodes:
            series = sorted((t, v) for (n, qq, t), v in ledger.arrivals.items() if n == node and qq == q)
            if any(v > limit for _, v in series):
                expect_raised.add(node)
                if series[-1][1] <= limit:
                    expect_cleared.add(node)
        seen = [a for a in ledger.alerts if a.get("alert") == alert]
        raised = {by_eui.get(a.get("device", ""), "?") for a in seen if a.get("state") == "raised"}
        cleared = {by_eui.get(a.get("device", ""), "?") for a in seen if a.get("state") == "cleared"}
        out[alert] = {
            "limit": limit,
            "raised": sorted(raised),
            "cleared": sorted(cleared),
            "expected_raised": sorted(expect_raised),
            "expected_cleared": sorted(expect_cleared),
            "messages": len(seen),
            "ok": raised == expect_raised and cleared == expect_cleared,
        }
    return out


def _mobile(sc: Scenario, ledger: Ledger, world: UseCaseWorld) -> dict[str, Any]:
    vans = {n.name for n in sc.nodes if role(n) == "van"}
    if not vans:
        return {}
    out = {"readings": 0, "with_position": 0, "fix_at_reading": 0, "position_without_fix": 0,
           "no_position_with_fix": 0, "wrong_position": 0}  # fmt: skip
    examples: list[dict[str, Any]] = []
    for (node, seq), r in sorted(ledger.readings.items()):
        if node not in vans:
            continue
        out["readings"] += 1
        fix = world.fix_at(node, r.t)
        has = "latitude" in r.values and "longitude" in r.values
        out["with_position"] += has
        out["fix_at_reading"] += fix is not None
        problem = None
        if has and fix is None:
            problem = "position_without_fix"
        elif fix is not None and not has:
            problem = "no_position_with_fix"
        elif fix is not None and (
            abs(r.values["latitude"] - fix[0]) > POSITION_TOLERANCE_DEG
            or abs(r.values["longitude"] - fix[1]) > POSITION_TOLERANCE_DEG
        ):
            problem = "wrong_position"
        if problem:
            out[problem] += 1
            if len(examples) < 10:
                examples.append({"node": node, "seq": seq, "t": r.t, "problem": problem, "fix": fix,
                                 "position": [r.values.get("latitude"), r.values.get("longitude")]})  # fmt: skip
    return {**out, "examples": examples}
