"""NGSI-LD entities as views of a device's metadata and observations, named as the Smart Data Models name them.

Each device gives a ``Device`` entity and one observed entity per model its quantities fit:
``AirQualityObserved`` (a node with PM; its temperature, humidity and pressure go with it),
``WeatherObserved`` (temperature, humidity or pressure without PM), ``NoiseLevelObserved``
(LAeq, LAmax) and, for counters, ``CrowdFlowObserved`` (pedestrians) or ``TrafficFlowObserved``
with vehicleType bicycle (devices configured as bicycle counters). Quantities a model has no
attribute for (lamin, l10, l50, l90, NoiseLevelObserved has none) are not served.

Input shapes (what central.ngsi.store reads): a device is a dict with ``dev_eui``, ``latitude``,
``longitude``, ``height_m``, ``installed`` (YYYY-MM-DD), ``support``, ``photos`` (list),
``gateway_id`` and ``interval_s`` (measured interval, may be None); a series maps a vocabulary
quantity to its ``(t, value)`` pairs in time order.
The latest view uses each quantity's last pair; the temporal view all of them. A device without
coordinates has no observed entity of a model that requires a location (air, weather, noise).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from central.ngsi.models import context_of, required
from edge import vocab

Series = dict[str, list[tuple[int, float]]]

# UN/CEFACT Recommendation 20 common codes, as the models' unitCode uses them.
GQ = "GQ"  # microgram per cubic metre
CEL = "CEL"  # degree Celsius
A97 = "A97"  # hectopascal
DB = "2N"  # decibel
C62 = "C62"  # one (a fraction 0..1)


def _same(v: float) -> float:
    return v


def _percent_to_fraction(v: float) -> float:
    return round(v / 100.0, 3)  # %RH at 0.5 resolution -> 0..1 at 0.005


def _pa_to_hpa(v: float) -> float:
    return round(v / 100.0, 1)  # Pa at 10 Pa resolution -> hPa at 0.1


# Model -> its attributes: (attribute, quantity, unitCode, conversion from the vocabulary unit).
ATTRIBUTES: dict[str, tuple[tuple[str, str, str | None, Callable[[float], float]], ...]] = {
    "AirQualityObserved": (
        ("pm1", "pm1", GQ, _same),
        ("pm25", "pm2_5", GQ, _same),
        ("pm4", "pm4", GQ, _same),
        ("pm10", "pm10", GQ, _same),
        ("temperature", "temperature", CEL, _same),
        ("relativeHumidity", "humidity", C62, _percent_to_fraction),
        ("pressure", "pressure", A97, _pa_to_hpa),
    ),
    "WeatherObserved": (
        ("temperature", "temperature", CEL, _same),
        ("relativeHumidity", "humidity", C62, _percent_to_fraction),
        ("atmosphericPressure", "pressure", A97, _pa_to_hpa),
    ),
    "NoiseLevelObserved": (("LAeq", "laeq", DB, _same), ("LAmax", "lamax", DB, _same)),
    "CrowdFlowObserved": (
        ("peopleCountTowards", "count_in", None, _same),
        ("peopleCountAway", "count_out", None, _same),
    ),
    "TrafficFlowObserved": (),  # intensity: count_in + count_out, below
}
PM = ("pm1", "pm2_5", "pm4", "pm10")
WEATHER = ("temperature", "humidity", "pressure")
NOISE = ("laeq", "lamax")
COUNTS = ("count_in", "count_out")

# Device.controlledProperty values (the model's enumeration) for our quantities.
CONTROLLED = {
    "pm1": "airPollution",
    "pm2_5": "airPollution",
    "pm4": "airPollution",
    "pm10": "airPollution",
    "temperature": "temperature",
    "humidity": "humidity",
    "pressure": "atmosphericPressure",
    "laeq": "noiseLevel",
    "lamax": "noiseLevel",
    "lamin": "noiseLevel",
    "l10": "noiseLevel",
    "l50": "noiseLevel",
    "l90": "noiseLevel",
    "count_in": "trafficFlow",
    "count_out": "trafficFlow",
}


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entity_id(entity_type: str, dev_eui: str) -> str:
    return "urn:ngsi-ld:%s:%s" % (entity_type, dev_eui)


def observed_types(quantities: set[str], bicycle: bool = False) -> list[str]:
    """The observed models a device with these quantities is shown as."""
    types = []
    if quantities & set(PM):
        types.append("AirQualityObserved")
    elif quantities & set(WEATHER):
        types.append("WeatherObserved")
    if quantities & set(NOISE):
        types.append("NoiseLevelObserved")
    if quantities & set(COUNTS):
        types.append("TrafficFlowObserved" if bicycle else "CrowdFlowObserved")
    return types


def _prop(value: Any, t: int | None = None, unit: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"type": "Property", "value": value}
    if unit:
        p["unitCode"] = unit
    if t is not None:
        p["observedAt"] = iso(t)
    return p


def _datetime(t: int) -> dict[str, Any]:
    return {"type": "Property", "value": {"@type": "DateTime", "@value": iso(t)}}


def _location(device: dict[str, Any]) -> dict[str, Any] | None:
    if device.get("latitude") is None or device.get("longitude") is None:
        return None
    # GeoJSON (RFC 7946 section 3.1.1): longitude first.
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [device["longitude"], device["latitude"]]}}


def _counts_by_time(series: Series) -> list[tuple[int, int, int]]:
    """(t, count_in, count_out) for each reading time that has a count."""
    by_t: dict[int, list[int]] = {}
    for i, q in enumerate(COUNTS):
        for t, v in series.get(q, ()):
            by_t.setdefault(t, [0, 0])[i] = int(v)
    return [(t, a, b) for t, (a, b) in sorted(by_t.items())]


def _interval(device: dict[str, Any], times: list[int]) -> int:
    """The device's measurement interval as the platform measured it, else the gap between the two
    last readings, else 0 (one reading: an instant)."""
    if device.get("interval_s"):
        return int(device["interval_s"])
    return times[-1] - times[-2] if len(times) > 1 else 0


def device_entity(device: dict[str, Any], series: Series) -> dict[str, Any]:
    """The ``Device`` entity: where and how the sensor hangs, what it measures, when it last reported."""
    eui = device["dev_eui"]
    quantities = sorted(q for q in series if series[q])
    ent: dict[str, Any] = {
        "id": entity_id("Device", eui),
        "type": "Device",
        "serialNumber": _prop(eui),
        "deviceCategory": _prop(["sensor"]),
        "controlledProperty": _prop(sorted({CONTROLLED[q] for q in quantities if q in CONTROLLED})),
    }
    loc = _location(device)
    if loc:
        ent["location"] = loc
    if device.get("installed"):
        ent["dateInstalled"] = {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": device["installed"] + "T00:00:00Z"},
        }
    last = max((s[-1][0] for s in series.values() if s), default=None)
    if last is not None:
        ent["dateLastValueReported"] = _datetime(last)
    # The model has no mounting attributes: they travel as configuration parameters (its
    # "technical configuration ... not covered by the standard attributes").
    config = []
    if device.get("height_m") is not None:
        config.append({"parameter": "mountingHeight_m", "value": "%g" % device["height_m"]})
    if device.get("support"):
        config.append({"parameter": "support", "value": device["support"]})
    if device.get("gateway_id"):
        config.append({"parameter": "gateway", "value": device["gateway_id"]})
    for photo in device.get("photos") or ():
        config.append({"parameter": "photo", "value": photo})
    if config:
        ent["configuration"] = _prop(config)
    return ent


def observed_entity(entity_type: str, device: dict[str, Any], series: Series, temporal: bool = False) -> dict[str, Any]:
    """One observed entity of a device: the last value of each attribute, or all of them (temporal)."""
    eui = device["dev_eui"]
    ent: dict[str, Any] = {"id": entity_id(entity_type, eui), "type": entity_type}
    times: list[int] = []

    def put(attr: str, pairs: list[tuple[int, float]], unit: str | None) -> None:
        if not pairs:
            return
        times.extend(t for t, _ in pairs)
        if temporal:
            ent[attr] = [_prop(v, t, unit) for t, v in pairs]
        else:
            t, v = pairs[-1]
            ent[attr] = _prop(v, t, unit)

    for attr, q, unit, conv in ATTRIBUTES[entity_type]:
        put(attr, [(t, conv(_rounded(q, v))) for t, v in series.get(q, ())], unit)
    if entity_type == "CrowdFlowObserved":
        put("peopleCount", [(t, a + b) for t, a, b in _counts_by_time(series)], None)
    elif entity_type == "TrafficFlowObserved":
        put("intensity", [(t, a + b) for t, a, b in _counts_by_time(series)], None)
        ent["vehicleType"] = _prop("bicycle")
    if not times:
        raise ValueError("device %s has no %s attribute" % (eui, entity_type))
    last = max(times)
    ent["dateObserved"] = _datetime(last)
    if entity_type in ("NoiseLevelObserved", "CrowdFlowObserved", "TrafficFlowObserved"):
        # Values are over the reading's interval, ending at its time.
        ent["dateObservedFrom"] = _datetime(last - _interval(device, sorted(set(times))))
        ent["dateObservedTo"] = _datetime(last)
    loc = _location(device)
    if loc:
        ent["location"] = loc
    ent["refDevice"] = {"type": "Relationship", "object": entity_id("Device", eui)}
    return ent


def device_entities(
    device: dict[str, Any], series: Series, bicycle: bool = False, temporal: bool = False
) -> list[dict[str, Any]]:
    """Every entity of a device: its Device (not in the temporal view) and its observed entities."""
    out = [] if temporal else [device_entity(device, series)]
    present = {q for q, s in series.items() if s}
    for entity_type in observed_types(present, bicycle):
        if "location" in required(entity_type) and _location(device) is None:
            continue  # the model requires a location: without coordinates the observation is not served
        out.append(observed_entity(entity_type, device, series, temporal))
    return out


# Metadata fields whose change means the sensor was (re)installed somewhere else.
_PLACE = ("latitude", "longitude", "height_m")
_UPKEEP = ("installed", "support", "photos")


def device_operations(device_eui: str, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The installation history as ``DeviceOperation`` entities (dataModel.Device), one per change the
    platform received: the first metadata and any move are ``installation``, other changes (install
    date, support, photos) ``maintenance``, a removal from its gateway ``other``. The maintenance
    notes themselves stay on the gateway (docs/platform.md); the description names what changed."""
    out = []
    prev: dict[str, Any] | None = None
    for row in history:
        if row["removed"]:
            kind, what = "other", "removed from gateway %s" % row["gateway_id"]
        else:
            changed = [f for f in _PLACE + _UPKEEP if prev is None or prev.get(f) != row.get(f)]
            if not changed:
                continue  # the same metadata published again
            first = prev is None or prev["removed"]
            kind = "installation" if first or any(f in changed for f in _PLACE) else "maintenance"
            what = ("installed on gateway %s" % row["gateway_id"]) if first else "changed: " + ", ".join(changed)
        at = row["updated_at"] or row["received_at"]
        out.append({
            "id": "urn:ngsi-ld:DeviceOperation:%s:%d" % (device_eui, row["id"]),
            "type": "DeviceOperation",
            "device": {"type": "Relationship", "object": entity_id("Device", device_eui)},
            "operationType": _prop(kind),
            "description": _prop(what),
            "status": _prop("finished"),
            "result": _prop("ok"),
            "startedAt": _datetime(at),
            "endedAt": _datetime(at),
        })
        prev = row
    return out


def with_context(entity: dict[str, Any]) -> dict[str, Any]:
    """The entity as application/ld+json: its @context inside."""
    return {**entity, "@context": context_of(entity["type"])}


def key_values(entity: dict[str, Any]) -> dict[str, Any]:
    """The simplified (key-values) form: each attribute's value, or object for a Relationship."""
    out: dict[str, Any] = {}
    for k, v in entity.items():
        if k == "@context":
            continue
        if isinstance(v, dict) and v.get("type") in ("Property", "GeoProperty", "Relationship"):
            val = v["object"] if v["type"] == "Relationship" else v["value"]
            out[k] = val["@value"] if isinstance(val, dict) and "@value" in val else val
        else:
            out[k] = v
    return out


def _rounded(quantity: str, value: float) -> float:
    """A stored value at its vocabulary resolution (the platform rounds, docs/platform.md)."""
    if quantity not in vocab.BY_NAME:
        return value
    step = vocab.resolution(quantity)
    r = round(round(value / step) * step, 2)
    return int(r) if step >= 1 else r
