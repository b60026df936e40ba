"""Entities rendered from rows, checked against the vendored Smart Data Models schemas and contexts."""

import pytest

from central.ngsi import entities as ents
from central.ngsi import models

DAY = 1_780_000_000 - 1_780_000_000 % 86400  # a UTC midnight in 2026
DEVICE = {"dev_eui": "70b3d57ed0000001", "gateway_id": "lamp-7", "latitude": 48.13743, "longitude": 11.57549,
          "height_m": 4.5, "installed": "2026-11-20", "support": "lamp-post", "photos": ["/srv/photos/north.jpg"]}


def day_series(quantities, step=900):
    """One day of readings every 15 minutes, plausible values."""
    base = {"pm1": 6.2, "pm2_5": 12.3, "pm4": 14.0, "pm10": 20.1, "temperature": 21.37, "humidity": 55.5,
            "pressure": 101320, "laeq": 58.4, "lamax": 71.2, "lamin": 40.1, "count_in": 12, "count_out": 9}
    return {q: [(DAY + i * step, base[q]) for i in range(86400 // step)] for q in quantities}


def all_entities(series, bicycle=False):
    return ents.device_entities(DEVICE, series, bicycle=bicycle)


def assert_valid(entity):
    kv = ents.key_values(entity)
    assert models.validate(kv) == [], entity["type"]
    expanded = models.expand(ents.with_context(entity))
    assert len(expanded) == 1
    # Every attribute is a term of the models' or the core context: none fell to the default vocabulary.
    defaulted = [k for k in expanded[0] if k.startswith("https://uri.etsi.org/ngsi-ld/default-context/")]
    assert defaulted == [], defaulted
    return kv, expanded[0]


def test_air_node_is_device_and_air_quality_with_the_models_units():
    series = day_series(["pm1", "pm2_5", "pm4", "pm10", "temperature", "humidity", "pressure"])
    device, air = all_entities(series)
    assert [device["type"], air["type"]] == ["Device", "AirQualityObserved"]
    assert air["id"] == "urn:ngsi-ld:AirQualityObserved:70b3d57ed0000001"
    last = ents.iso(DAY + 86400 - 900)
    assert air["pm25"] == {"type": "Property", "value": 12.3, "unitCode": "GQ", "observedAt": last}
    assert air["relativeHumidity"]["value"] == 0.555 and air["relativeHumidity"]["unitCode"] == "C62"
    assert air["pressure"]["value"] == 1013.2 and air["pressure"]["unitCode"] == "A97"
    assert air["refDevice"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:70b3d57ed0000001"}
    assert air["location"]["value"] == {"type": "Point", "coordinates": [11.57549, 48.13743]}
    for e in (device, air):
        kv, expanded = assert_valid(e)
    assert "https://smartdatamodels.org/dataModel.Environment/pm25" in expanded
    dkv = ents.key_values(device)
    assert dkv["controlledProperty"] == ["airPollution", "atmosphericPressure", "humidity", "temperature"]
    assert {"parameter": "mountingHeight_m", "value": "4.5"} in dkv["configuration"]
    assert dkv["dateInstalled"] == "2026-11-20T00:00:00Z"


def test_weather_noise_and_counts():
    series = day_series(["temperature", "humidity", "pressure", "laeq", "lamax", "lamin", "count_in", "count_out"])
    types = [e["type"] for e in all_entities(series)]
    assert types == ["Device", "WeatherObserved", "NoiseLevelObserved", "CrowdFlowObserved"]
    _, weather, noise, crowd = all_entities(series)
    assert weather["atmosphericPressure"]["value"] == 1013.2
    assert set(noise) >= {"LAeq", "LAmax", "dateObservedFrom", "dateObservedTo"} and "LAmin" not in noise
    assert noise["dateObservedFrom"]["value"]["@value"] == ents.iso(DAY + 86400 - 1800)
    assert (crowd["peopleCountTowards"]["value"], crowd["peopleCountAway"]["value"], crowd["peopleCount"]["value"]) == (
        12, 9, 21)
    bike = all_entities(series, bicycle=True)[3]
    assert bike["type"] == "TrafficFlowObserved" and bike["intensity"]["value"] == 21
    assert bike["vehicleType"]["value"] == "bicycle"
    for e in [*all_entities(series), bike]:
        assert_valid(e)


def test_schema_catches_a_wrong_unit_conversion():
    # relativeHumidity in percent (the vocabulary's unit) is what the model forbids: 0..1 only.
    series = day_series(["pm2_5", "humidity"])
    air = all_entities(series)[1]
    kv = ents.key_values(air)
    kv["relativeHumidity"] = 55.5
    assert any("relativeHumidity" in e for e in models.validate(kv))


def test_temporal_view_holds_every_instance():
    series = day_series(["laeq"], step=3600)
    (noise,) = ents.device_entities(DEVICE, series, temporal=True)
    assert len(noise["LAeq"]) == 24 and noise["LAeq"][0]["observedAt"] == ents.iso(DAY)


def test_unvendored_context_is_refused_not_fetched():
    with pytest.raises(Exception, match="loading remote context failed") as info:
        models.expand({"@context": "https://example.org/ctx.jsonld", "id": "urn:x", "type": "T"})
    causes, e = [], info.value
    while e is not None:
        causes.append(e)
        e = getattr(e, "cause", None) or e.__cause__ or e.__context__
    assert any(isinstance(c, models.NotVendored) for c in causes)


def test_registration_names_every_attribute_served():
    from central.ngsi.registration import registration

    reg = registration("http://10.0.0.5:1026/", token="t0k")
    assert reg["endpoint"] == "http://10.0.0.5:1026" and reg["operations"] == ["retrieveOps"]
    assert reg["contextSourceInfo"] == [{"key": "Authorization", "value": "Bearer t0k"}]
    declared = {i["entities"][0]["type"]: set(i["propertyNames"]) | set(i.get("relationshipNames", ()))
                for i in reg["information"]}
    series = day_series(["pm1", "pm2_5", "pm4", "pm10", "temperature", "humidity", "pressure", "laeq", "lamax",
                         "count_in", "count_out"])
    weather = day_series(["temperature", "humidity", "pressure"])
    history = [{"id": 1, "gateway_id": "g", "removed": False, "latitude": 1.0, "longitude": 2.0, "height_m": None,
                "installed": None, "support": None, "photos": [], "received_at": DAY, "updated_at": DAY}]
    served = all_entities(series) + all_entities(series, bicycle=True) + all_entities(weather)
    served += ents.device_operations(DEVICE["dev_eui"], history)
    for e in served:
        attrs = set(e) - {"id", "type"}
        assert attrs <= declared[e["type"]], (e["type"], attrs - declared[e["type"]])
    assert models.expand(reg)


def test_installation_history_as_device_operations():
    row = {"gateway_id": "lamp-7", "removed": False, "latitude": 48.1, "longitude": 11.5, "height_m": 4.5,
           "installed": "2026-11-20", "support": "lamp-post", "photos": [], "received_at": DAY}
    history = [
        {**row, "id": 1, "updated_at": DAY},
        {**row, "id": 2, "updated_at": DAY + 60},  # published again, unchanged: no operation
        {**row, "id": 3, "updated_at": DAY + 3600, "photos": ["/p/after-cleaning.jpg"]},
        {**row, "id": 4, "updated_at": DAY + 7200, "latitude": 48.2, "photos": ["/p/after-cleaning.jpg"]},
        {**row, "id": 5, "updated_at": None, "received_at": DAY + 9000, "removed": True},
    ]
    ops = ents.device_operations(DEVICE["dev_eui"], history)
    assert [(o["operationType"]["value"], o["description"]["value"]) for o in ops] == [
        ("installation", "installed on gateway lamp-7"), ("maintenance", "changed: photos"),
        ("installation", "changed: latitude"), ("other", "removed from gateway lamp-7")]
    assert ops[0]["id"] == "urn:ngsi-ld:DeviceOperation:70b3d57ed0000001:1"
    assert ops[-1]["startedAt"]["value"]["@value"] == ents.iso(DAY + 9000)
    for o in ops:
        assert_valid(o)
