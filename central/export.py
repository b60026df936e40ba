"""Open-data exports of the platform tables: documented schemas, no lock-in.

``csv``: a Frictionless data package (https://specs.frictionlessdata.io/data-package/): CSV files
with a Table Schema each in ``datapackage.json``: the observations, hourly and daily aggregates,
the devices, Lden per day and PM daily means. ``geojson``: the sensors and their metadata as a
FeatureCollection (RFC 7946). ``ngsi-ld``: the Device entities and the temporal entities of the
range, in the form the NGSI-LD API serves (with their @context).

Aggregates per quantity follow `AGGREGATE`: sound levels energetically, maxima and minima as
such, counts summed, the rest as arithmetic means; the L10/L50/L90 percentiles are not aggregated
(no mean of percentiles is a percentile).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from central import indicators as ind
from central.ngsi import entities as ents
from central.ngsi.api import Options
from central.ngsi.store import Store
from edge import vocab

FORMATS = ("csv", "geojson", "ngsi-ld")


def _mean(vs: list[float]) -> float:
    return sum(vs) / len(vs)


def _energetic(vs: list[float]) -> float:
    m = ind.energetic_mean(vs)
    return m if m is not None else float("nan")  # groups are never empty


AGGREGATE: dict[str, tuple[str, Callable[[list[float]], float]]] = {
    **{q: ("mean", _mean) for q in ("pm1", "pm2_5", "pm4", "pm10", "temperature", "humidity", "pressure")},
    "laeq": ("energetic mean", _energetic),
    "lamax": ("max", max),
    "lamin": ("min", min),
    "count_in": ("sum", sum),
    "count_out": ("sum", sum),
}

_F = {k: k for k in ("string", "number", "integer", "datetime", "date", "boolean")}


def _field(name: str, kind: str, description: str, **constraints: Any) -> dict[str, Any]:
    f: dict[str, Any] = {"name": name, "type": _F[kind], "description": description}
    if constraints:
        f["constraints"] = constraints
    return f


_DEV = _field("dev_eui", "string", "LoRaWAN DevEUI, 16 lower-case hex digits", required=True, pattern="[0-9a-f]{16}")
_QTY = _field("quantity", "string", "quantity of the edge vocabulary (docs/platform.md)", required=True,
              enum=list(vocab.NAMES))
_UNIT = _field("unit", "string", "SenML unit (RFC 8428 / RFC 8798)")

TABLES: dict[str, dict[str, Any]] = {
    "observations": {"description": "every stored value, one row per device, quantity and time",
                     "fields": [_DEV, _QTY, _field("time", "datetime", "measurement time, UTC", required=True),
                                _field("value", "number", "value in the unit", required=True), _UNIT],
                     "primaryKey": ["dev_eui", "quantity", "time"]},
    "hourly": {"description": "aggregates per local hour (Europe/Paris by default); rule per quantity in 'method'",
               "fields": [_DEV, _QTY, _field("hour", "string", "start of the local hour, ISO 8601 with offset"),
                          _field("value", "number", "aggregate"), _field("method", "string", "aggregation rule"),
                          _field("n", "integer", "values aggregated"), _UNIT],
               "primaryKey": ["dev_eui", "quantity", "hour"]},
    "daily": {"description": "aggregates per local day",
              "fields": [_DEV, _QTY, _field("date", "date", "local day"), _field("value", "number", "aggregate"),
                         _field("method", "string", "aggregation rule"), _field("n", "integer", "values aggregated"),
                         _UNIT],
              "primaryKey": ["dev_eui", "quantity", "date"]},
    "devices": {"description": "sensors and their installation metadata",
                "fields": [_DEV, _field("gateway_id", "string", "gateway the device is registered on"),
                           _field("latitude", "number", "WGS 84 degrees"),
                           _field("longitude", "number", "WGS 84 degrees"),
                           _field("height_m", "number", "mounting height above ground, m"),
                           _field("installed", "date", "install date"),
                           _field("support", "string", "mounting support"),
                           _field("photos", "string", "photo paths, separated by '|'"),
                           _field("removed", "boolean", "removed from its gateway (its data stay in the export)")],
                "primaryKey": ["dev_eui"]},
    "noise_days": {"description": "Lday, Levening, Lnight, Lden per local day (EU Directive 2002/49/EC), dB(A)",
                   "fields": [_DEV, _field("date", "date", "local day (the night that starts on it)"),
                              _field("lday", "number", "07-19"), _field("levening", "number", "19-23"),
                              _field("lnight", "number", "23-07"), _field("lden", "number", "day-evening-night"),
                              _field("n_day", "integer", "LAeq values in the day period"),
                              _field("n_evening", "integer", "LAeq values in the evening period"),
                              _field("n_night", "integer", "LAeq values in the night period")],
                   "primaryKey": ["dev_eui", "date"]},
    "pm_days": {"description": "PM daily means; valid with >= 75 % of hours; WHO 2021 24-hour guideline exceedance",
                "fields": [_DEV, _field("quantity", "string", "pm2_5 or pm10", enum=list(ind.WHO_24H)),
                           _field("date", "date", "local day"), _field("mean", "number", "µg/m³, empty if not valid"),
                           _field("hours", "integer", "hours with a value"),
                           _field("hours_in_day", "integer", "23, 24 or 25"),
                           _field("valid", "boolean", "true when hours >= 75 % of the day"),
                           _field("guideline", "number", "WHO 2021 24-hour level, µg/m³"),
                           _field("exceeds", "boolean", "true when the valid mean is above the guideline")],
                "primaryKey": ["dev_eui", "quantity", "date"]},
}


def aggregate(series: dict[str, list[tuple[int, float]]], tz: str = ind.DEFAULT_TZ,
              daily: bool = False) -> Iterable[tuple[str, str, float, str, int]]:
    """(quantity, local hour or day, value, method, n) for each quantity that has a rule."""
    zone = ZoneInfo(tz)
    for q in sorted(series):
        if q not in AGGREGATE:
            continue
        method, fn = AGGREGATE[q]
        groups: dict[int, list[float]] = defaultdict(list)
        for t, v in series[q]:
            groups[t - t % 3600].append(v)
        if daily:
            days: dict[str, list[float]] = defaultdict(list)
            for h, vs in groups.items():
                days[ind.local_hour(h, zone).date().isoformat()].extend(vs)
            for d in sorted(days):
                yield q, d, round(fn(days[d]), 3), method, len(days[d])
        else:
            for h in sorted(groups):
                yield q, ind.local_hour(h, zone).isoformat(), round(fn(groups[h]), 3), method, len(groups[h])


def export(store: Store, start: int, end: int, fmt: str, out: Path, tz: str = ind.DEFAULT_TZ,
           options: Options | None = None) -> list[Path]:
    """Write the export of [start, end) into the directory ``out``; returns the files written."""
    if fmt not in FORMATS:
        raise ValueError("format must be one of %s, got %r" % (", ".join(FORMATS), fmt))
    if end <= start:
        raise ValueError("the end of the range must be after its start")
    out.mkdir(parents=True, exist_ok=True)
    # Every device that has data, removed ones too: an export is the whole record, not today's view.
    devices = store.devices(removed=True)
    if fmt == "geojson":
        return [_write_json(out / "sensors.geojson", sensors_geojson(devices, store.latest()))]
    # One device's range in memory at a time: a month of a city's data need not fit at once.
    per_device = ((d, store.series([d["dev_eui"]], start, end).get(d["dev_eui"], {})) for d in devices)
    if fmt == "ngsi-ld":
        opts = options or Options()
        entities = []
        for d, s in per_device:
            entities.append(ents.with_context(ents.device_entity(d, s)))
            entities += [ents.with_context(e) for e in ents.device_entities(
                d, s, bicycle=d["dev_eui"] in opts.bicycle_counters, temporal=True)]
        return [_write_json(out / "entities.jsonld", entities)]
    return write_package(out, per_device, tz)


def _device_rows(d: dict[str, Any], s: dict[str, list[tuple[int, float]]], tz: str):
    """(table, row) of one device: its metadata, values, aggregates and indicators."""
    eui = d["dev_eui"]
    yield "devices", [eui, d.get("gateway_id"), d.get("latitude"), d.get("longitude"), d.get("height_m"),
                      d.get("installed"), d.get("support"), "|".join(d.get("photos") or []),
                      str(bool(d.get("removed"))).lower()]
    for q in sorted(s):
        unit = vocab.unit(q) if q in vocab.BY_NAME else ""
        for t, v in s[q]:
            yield "observations", [eui, q, ents.iso(t), v, unit]
    for daily, name in ((False, "hourly"), (True, "daily")):
        for q, when, value, method, n in aggregate(s, tz, daily):
            yield name, [eui, q, when, value, method, n, vocab.unit(q) if q in vocab.BY_NAME else ""]
    if s.get("laeq"):
        for r in ind.noise_days(s["laeq"], tz):
            yield "noise_days", [eui, r["date"], r["lday"], r["levening"], r["lnight"], r["lden"], r["n_day"],
                                 r["n_evening"], r["n_night"]]
    for q in ind.WHO_24H:
        for r in ind.pm_days(s.get(q, ()), q, tz):
            yield "pm_days", [eui, q, r["date"], r["mean"], r["hours"], r["hours_in_day"], str(r["valid"]).lower(),
                              r["guideline"], str(r["exceeds"]).lower()]


def write_package(out: Path, per_device: Iterable[tuple[dict[str, Any], dict[str, list[tuple[int, float]]]]],
                  tz: str) -> list[Path]:
    """The CSV files and datapackage.json, written as each device's rows come."""
    paths = {name: out / (name + ".csv") for name in TABLES}
    with ExitStack() as stack:
        writers = {}
        for name, table in TABLES.items():
            w = csv.writer(stack.enter_context(paths[name].open("w", newline="", encoding="utf-8")),
                           lineterminator="\n")
            w.writerow([fld["name"] for fld in table["fields"]])
            writers[name] = w
        for d, s in per_device:
            for name, row in _device_rows(d, s, tz):
                writers[name].writerow(["" if v is None else v for v in row])
    resources = [{"name": name, "path": paths[name].name, "format": "csv", "mediatype": "text/csv",
                  "encoding": "utf-8", "description": table["description"],
                  "schema": {"fields": table["fields"], "primaryKey": table["primaryKey"]}}
                 for name, table in TABLES.items()]
    package = {"name": "edge-sensor-data", "title": "edge sensor network: observations and indicators",
               "licenses": [{"name": "ODbL-1.0", "path": "https://opendatacommons.org/licenses/odbl/1-0/",
                             "title": "Open Data Commons Open Database License 1.0"}],
               "resources": resources}
    return [*paths.values(), _write_json(out / "datapackage.json", package)]


def sensors_geojson(devices: list[dict[str, Any]], latest: dict[str, dict[str, list[tuple[int, float]]]]):
    """The sensors as GeoJSON Features (RFC 7946), their metadata and last values as properties."""
    features = []
    for d in devices:
        if d.get("removed"):
            continue  # the map of the network today
        if d.get("latitude") is None or d.get("longitude") is None:
            continue  # GeoJSON needs a geometry; devices not yet surveyed are in devices.csv
        last = {q: s[-1][1] for q, s in latest.get(d["dev_eui"], {}).items() if s}
        seen = max((s[-1][0] for s in latest.get(d["dev_eui"], {}).values() if s), default=None)
        props = {k: d.get(k) for k in ("dev_eui", "gateway_id", "height_m", "installed", "support", "photos")}
        props.update({"last_seen": ents.iso(seen) if seen else None, "last_values": last})
        features.append({"type": "Feature", "id": d["dev_eui"],
                         "geometry": {"type": "Point", "coordinates": [d["longitude"], d["latitude"]]},
                         "properties": props})
    return {"type": "FeatureCollection", "features": features}


def _write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
