"""Open-data exports from a real PostgreSQL database; the data package validated by frictionless."""

import csv
import json

import pytest

from central import export
from central.ngsi import entities as ents
from central.ngsi import models
from central.ngsi.store import Store
from tests.central import pg
from tests.central.test_ngsi_api import AIR, DAY, DEVICES, NOISE, SERIES


@pytest.fixture(scope="module")
def dsn():
    with pg.database() as dsn:
        pg.insert(dsn, DEVICES, SERIES)
        yield dsn


def rows(path):
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_package_is_valid_and_holds_the_aggregates(dsn, tmp_path):
    frictionless = pytest.importorskip("frictionless")
    with Store(dsn) as store:
        files = export.export(store, DAY, DAY + 86400, "csv", tmp_path)
    assert {f.name for f in files} == {t + ".csv" for t in export.TABLES} | {"datapackage.json"}
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    obs = rows(tmp_path / "observations.csv")
    # Every value, the removed device's too: an export is the whole record.
    assert len(obs) == sum(len(p) for s in SERIES.values() for p in s.values())
    assert [r["removed"] for r in rows(tmp_path / "devices.csv")] == ["false"] * 4 + ["true"]
    # Hourly rows: one value an hour in the fixture, so each hour is that value.
    hourly = [r for r in rows(tmp_path / "hourly.csv") if r["dev_eui"] == AIR and r["quantity"] == "pm2_5"]
    assert len(hourly) == 24 and hourly[0]["value"] == "10.0" and hourly[0]["method"] == "mean"
    # The fixture's UTC day (late May, CEST = UTC+2) is 02:00-24:00 of one Paris day and 00:00-02:00
    # of the next: PM2.5 hours 10..31 on the first (mean 20.5 > 15, 22 of 24 hours), 2 hours after.
    pm = [r for r in rows(tmp_path / "pm_days.csv") if r["dev_eui"] == AIR and r["quantity"] == "pm2_5"]
    assert [(r["hours"], r["valid"], r["mean"], r["exceeds"]) for r in pm] == [
        ("22", "true", "20.5", "true"), ("2", "false", "", "false")]
    # Daily counts of NOISE (count_in = hour index 0..23): sums split across the two local days.
    daily = [r for r in rows(tmp_path / "daily.csv") if r["dev_eui"] == NOISE and r["quantity"] == "count_in"]
    assert sum(int(float(r["value"])) for r in daily) == sum(range(24)) and daily[0]["method"] == "sum"
    assert rows(tmp_path / "noise_days.csv")[0]["dev_eui"] == NOISE


def test_a_broken_package_is_caught(dsn, tmp_path):
    frictionless = pytest.importorskip("frictionless")
    with Store(dsn) as store:
        export.export(store, DAY, DAY + 86400, "csv", tmp_path)
    path = tmp_path / "observations.csv"
    path.write_text(path.read_text() + "not-an-eui,pm2_5,yesterday,abc,ug/m3\n")
    assert not frictionless.validate(str(tmp_path / "datapackage.json")).valid


def test_geojson_and_ngsi_ld(dsn, tmp_path):
    with Store(dsn) as store:
        (geo,) = export.export(store, DAY, DAY + 86400, "geojson", tmp_path)
        (ld,) = export.export(store, DAY, DAY + 86400, "ngsi-ld", tmp_path)
    fc = json.loads(geo.read_text())
    located = [d for d in DEVICES if d.get("latitude") is not None and not d.get("removed")]
    assert [f["id"] for f in fc["features"]] == [d["dev_eui"] for d in located]
    assert fc["features"][0]["geometry"] == {"type": "Point", "coordinates": [2.35, 48.85]}
    assert fc["features"][0]["properties"]["last_values"]["pm2_5"] == 33.0
    entities = json.loads(ld.read_text())
    for e in entities:
        # Temporal attributes are lists of instances: each instance alone is a model attribute.
        last = {k: (v[-1] if isinstance(v, list) else v) for k, v in e.items()}
        assert models.validate(ents.key_values(last)) == [], e["id"]
    noise = next(e for e in entities if e["type"] == "NoiseLevelObserved")
    assert len(noise["LAeq"]) == 24


def test_bad_range_and_format(dsn, tmp_path):
    with Store(dsn) as store:
        with pytest.raises(ValueError, match="after its start"):
            export.export(store, DAY, DAY, "csv", tmp_path)
        with pytest.raises(ValueError, match="format must be"):
            export.export(store, DAY, DAY + 1, "xlsx", tmp_path)
