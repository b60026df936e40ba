"""The NGSI-LD read API on a real PostgreSQL database and a real HTTP socket on loopback."""

import json
import urllib.error
import urllib.request

import pytest

from central.ngsi import entities as ents
from central.ngsi import models
from central.ngsi.api import Options
from central.ngsi.server import split_bind
from tests.central import pg

DAY = 1_780_000_000 - 1_780_000_000 % 86400
AIR, NOISE, WEATHER, NOWHERE = "70b3d57ed0000001", "70b3d57ed0000002", "70b3d57ed0000003", "70b3d57ed0000004"
DEVICES = [
    {"dev_eui": AIR, "gateway_id": "lamp-7", "latitude": 48.85, "longitude": 2.35, "height_m": 4.5,
     "installed": "2026-11-20", "support": "lamp-post", "photos": ["/p/a.jpg"]},
    {"dev_eui": NOISE, "gateway_id": "lamp-7", "latitude": 48.86, "longitude": 2.34, "height_m": 3.8,
     "interval_s": 900},
    {"dev_eui": WEATHER, "gateway_id": "lamp-8", "latitude": 48.87, "longitude": 2.33},
    {"dev_eui": NOWHERE, "gateway_id": "lamp-8"},  # not yet surveyed: no coordinates
    {"dev_eui": "70b3d57ed00000ff", "gateway_id": "lamp-8", "latitude": 48.8, "longitude": 2.3, "removed": True},
]


def hourly(value_of):
    return [(DAY + 3600 * h, value_of(h)) for h in range(24)]


SERIES = {
    AIR: {"pm2_5": hourly(lambda h: 10.0 + h), "pm10": hourly(lambda h: 20.0 + h), "humidity": hourly(lambda h: 60.0),
          "temperature": hourly(lambda h: 12.5), "pressure": hourly(lambda h: 101300.0)},
    NOISE: {"laeq": hourly(lambda h: 50.0 + h / 2), "lamax": hourly(lambda h: 70.0), "count_in": hourly(lambda h: h),
            "count_out": hourly(lambda h: 1)},
    WEATHER: {"temperature": hourly(lambda h: 8.0), "humidity": hourly(lambda h: 90.0)},
    NOWHERE: {"pm2_5": hourly(lambda h: 5.0)},
    "70b3d57ed00000ff": {"pm10": hourly(lambda h: 7.0)},  # the removed device's data
}


@pytest.fixture(scope="module")
def server():
    with pg.database() as dsn:
        pg.insert(dsn, DEVICES, SERIES)
        pg.metadata(dsn, AIR, [{"latitude": 48.85, "longitude": 2.35, "height_m": 4.5, "at": DAY - 86400},
                               {"latitude": 48.85, "longitude": 2.35, "height_m": 4.5, "photos": ["/p/a.jpg"],
                                "at": DAY - 3600}])
        with pg.serving(dsn, options=Options(frozenset({NOISE}))) as srv:
            yield srv


def get(srv, path, headers=None):
    req = urllib.request.Request(srv.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def test_a_removed_device_is_not_served(server):
    status, _, body = get(server, "/ngsi-ld/v1/entities?id=urn:ngsi-ld:Device:70b3d57ed00000ff")
    assert (status, body) == (200, [])


def test_entities_by_type_with_count_and_pages(server):
    status, headers, body = get(server, "/ngsi-ld/v1/entities?type=Device&count=true&limit=2")
    assert status == 200 and headers["NGSILD-Results-Count"] == "4"
    assert [e["id"] for e in body] == ["urn:ngsi-ld:Device:" + AIR, "urn:ngsi-ld:Device:" + NOISE]
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in headers["Link"]
    _, _, rest = get(server, "/ngsi-ld/v1/entities?type=Device&limit=2&offset=2")
    assert [e["id"] for e in rest] == ["urn:ngsi-ld:Device:" + WEATHER, "urn:ngsi-ld:Device:" + NOWHERE]


def test_every_served_entity_passes_its_schema_and_expands(server):
    _, _, body = get(server, "/ngsi-ld/v1/entities?limit=1000", {"Accept": "application/ld+json"})
    types = sorted(e["type"] for e in body)
    # The device without coordinates is a Device only: AirQualityObserved requires a location.
    assert types == ["AirQualityObserved", "Device", "Device", "Device", "Device", "DeviceOperation",
                     "DeviceOperation", "NoiseLevelObserved", "TrafficFlowObserved", "WeatherObserved"]
    for e in body:
        assert e["@context"][-1] == models.CORE_CONTEXT
        assert models.validate(ents.key_values(e)) == [], e["id"]
        assert models.expand(e)


def test_latest_values_and_q(server):
    status, _, air = get(server, "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:" + AIR)
    assert status == 200 and air["pm25"]["value"] == 33.0 and air["pm25"]["observedAt"] == ents.iso(DAY + 23 * 3600)
    _, _, hits = get(server, "/ngsi-ld/v1/entities?type=AirQualityObserved,WeatherObserved&q=relativeHumidity>0.7")
    assert [e["id"] for e in hits] == ["urn:ngsi-ld:WeatherObserved:" + WEATHER]
    _, _, kv = get(server, "/ngsi-ld/v1/entities?q=pm25>=33;pm10<44&options=keyValues")
    assert [(e["type"], e["pm25"]) for e in kv] == [("AirQualityObserved", 33.0)]


def test_attrs_select_and_project(server):
    _, _, body = get(server, "/ngsi-ld/v1/entities?attrs=LAeq,pm10&options=keyValues")
    assert sorted((e["type"], sorted(e)) for e in body) == [
        ("AirQualityObserved", ["id", "pm10", "type"]), ("NoiseLevelObserved", ["LAeq", "id", "type"])]
    _, _, one = get(server, "/ngsi-ld/v1/entities/urn:ngsi-ld:Device:%s?attrs=location" % AIR)
    assert sorted(one) == ["id", "location", "type"]


def test_temporal_between_and_last_n(server):
    t0, t1 = ents.iso(DAY + 3600), ents.iso(DAY + 4 * 3600)
    status, _, noise = get(server, "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:NoiseLevelObserved:%s"
                                   "?timerel=between&timeAt=%s&endTimeAt=%s" % (NOISE, t0, t1))
    assert status == 200 and [i["value"] for i in noise["LAeq"]] == [50.5, 51.0, 51.5]
    # The interval the platform measured (15 min), not the gap between the hourly test values.
    assert noise["dateObservedFrom"]["value"]["@value"] == ents.iso(DAY + 3 * 3600 - 900)
    _, _, last = get(server, "/ngsi-ld/v1/temporal/entities?type=TrafficFlowObserved&lastN=2")
    assert [i["value"] for i in last[0]["intensity"]] == [23, 24]


def test_a_type_not_served_selects_nothing(server):
    status, headers, body = get(server, "/ngsi-ld/v1/entities?type=Streetlight&count=true")
    assert (status, headers["NGSILD-Results-Count"], body) == (200, "0", [])


def test_installation_history(server):
    _, _, ops = get(server, "/ngsi-ld/v1/entities?type=DeviceOperation&options=keyValues")
    assert [(o["operationType"], o["description"], o["device"]) for o in ops] == [
        ("installation", "installed on gateway lamp-7", "urn:ngsi-ld:Device:" + AIR),
        ("maintenance", "changed: photos", "urn:ngsi-ld:Device:" + AIR)]
    status, _, one = get(server, "/ngsi-ld/v1/entities/" + ops[1]["id"])
    assert status == 200 and one["startedAt"]["value"]["@value"] == ents.iso(DAY - 3600)


def test_types(server):
    _, _, body = get(server, "/ngsi-ld/v1/types")
    assert body["typeList"] == ["AirQualityObserved", "Device", "DeviceOperation", "NoiseLevelObserved",
                                "TrafficFlowObserved", "WeatherObserved"]


@pytest.mark.parametrize("path, words", [
    ("/ngsi-ld/v1/entities?type=Street%20light!", "not an entity type name"),
    ("/ngsi-ld/v1/entities?type=", "empty"),
    ("/ngsi-ld/v1/entities?limit=-1", "limit"),
    ("/ngsi-ld/v1/entities?limit=abc", "limit"),
    ("/ngsi-ld/v1/entities?limit=5000", "limit"),
    ("/ngsi-ld/v1/entities?q=pm25>>3", "q:"),
    ("/ngsi-ld/v1/entities?q=(pm25>3)", "parentheses"),
    ("/ngsi-ld/v1/entities?id=not%20a%20uri", "not a URI"),
    ("/ngsi-ld/v1/entities?type=Device&type=Device", "twice"),
    ("/ngsi-ld/v1/entities/70b3d57ed0000001", "not a URI"),
    ("/ngsi-ld/v1/temporal/entities?timerel=between&timeAt=2026-01-02T00:00:00Z&endTimeAt=2026-01-01T00:00:00Z",
     "reversed"),
    ("/ngsi-ld/v1/temporal/entities?timerel=between&timeAt=2026-01-01T00:00:00Z&endTimeAt=2026-06-01T00:00:00Z",
     "too large"),
    ("/ngsi-ld/v1/temporal/entities?timerel=after&timeAt=yesterday", "ISO 8601"),
    ("/ngsi-ld/v1/temporal/entities?timerel=after&timeAt=2026-01-01T00:00:00", "time zone"),
    ("/ngsi-ld/v1/temporal/entities?timerel=during&timeAt=2026-01-01T00:00:00Z", "timerel"),
    ("/ngsi-ld/v1/temporal/entities?lastN=0", "lastN"),
    ("/ngsi-ld/v1/entities?options=sysAttrs", "options"),
    ("/ngsi-ld/v1/entities?georel=near;maxDistance==100&geometry=Point&coordinates=[2.3,48.8]", "not supported"),
    ("/ngsi-ld/v1/entities?attrs=,", "empty"),
    ("/ngsi-ld/v1/entities?attrs=pm%2025", "not an attribute name"),
    ("/ngsi-ld/v1/entities?count=yes", "count"),
    ("/ngsi-ld/v1/entities?timerel=after&timeAt=2026-01-01T00:00:00Z", "not supported"),
    ("/ngsi-ld/v1/types?type=Device", "not supported"),
])
def test_bad_input_is_bad_request_data(server, path, words):
    status, headers, body = get(server, path)
    assert status == 400, body
    assert body["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData" and words in body["detail"]
    assert headers["Content-Type"] == "application/json"


def test_unknown_entity_is_not_found(server):
    for eid in ("urn:ngsi-ld:Device:0000000000000000", "urn:ngsi-ld:Streetlight:" + AIR, "urn:x:y"):
        status, _, body = get(server, "/ngsi-ld/v1/entities/" + eid)
        assert status == 404 and body["type"].endswith("ResourceNotFound"), eid
    # In a query an id this API does not serve selects nothing, like an unknown type.
    assert get(server, "/ngsi-ld/v1/entities?id=urn:ngsi-ld:Device:XYZ,urn:ngsi-ld:Device:" + AIR)[2][0]["id"] == (
        "urn:ngsi-ld:Device:" + AIR)


def test_token_and_loopback():
    with pg.database() as dsn, pg.serving(dsn, token="s3cret") as srv:
        status, headers, body = get(srv, "/ngsi-ld/v1/types")
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        assert get(srv, "/ngsi-ld/v1/types", {"Authorization": "Bearer wrong"})[0] == 401
        status, _, body = get(srv, "/ngsi-ld/v1/types", {"Authorization": "Bearer s3cret"})
        assert status == 200 and body["typeList"] == []
    with pytest.raises(ValueError, match="not a loopback address"):
        split_bind("0.0.0.0:1026", allow_remote=False)
    assert split_bind("0.0.0.0:1026", allow_remote=True) == ("0.0.0.0", 1026)
    assert split_bind("[::1]:1026", allow_remote=False) == ("::1", 1026)


def test_database_down_is_a_problem_not_a_crash(caplog):
    from tests.mqtt_broker import free_port

    dsn = "postgresql://postgres@127.0.0.1:%d/none?connect_timeout=2" % free_port()  # nothing listens there
    with pg.serving(dsn) as srv:
        status, _, body = get(srv, "/ngsi-ld/v1/entities?type=Device")
        assert status == 500 and body["type"].endswith("InternalError")
        assert get(srv, "/ngsi-ld/v1/entities?limit=x")[0] == 400  # parameters are checked first


PARAMS = ["type", "id", "q", "attrs", "limit", "offset", "count", "options", "timerel", "timeAt", "endTimeAt",
          "lastN", "georel"]
PATHS = ["/ngsi-ld/v1/entities", "/ngsi-ld/v1/temporal/entities", "/ngsi-ld/v1/types",
         "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:" + AIR,
         "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:NoiseLevelObserved:" + NOISE]


def test_no_query_string_is_a_500(server):
    """Whatever a client puts in the query string, the answer is 200 or a 400 problem, never a 500."""
    from urllib.parse import quote

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    values = st.one_of(st.text(max_size=30), st.sampled_from(
        ["true", "0", "-1", "1000", "99999999999", "2026-01-01T00:00:00Z", "between", "pm25>3", "Device",
         "AirQualityObserved", "keyValues", "urn:ngsi-ld:Device:" + AIR]))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(PATHS), st.dictionaries(st.sampled_from(PARAMS), values, max_size=5))
    def check(path, params):
        qs = "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in params.items())
        status, _, body = get(server, path + "?" + qs)
        assert status in (200, 400, 404), (path, params, body)
        if status != 200:
            assert body["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")

    check()
