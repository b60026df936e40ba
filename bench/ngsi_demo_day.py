"""One simulated day of the demo scenario, served as NGSI-LD and exported as open data: the figures
of docs/standards.md's note.

    uv run python bench/ngsi_demo_day.py [--hours 31] [--out out/ngsi-demo-day]
                                          [--screenshot docs/img/platform-page.png]

Runs the shipped demo scenario (real firmware, gateway agent, Mosquitto) for --hours from a Paris
midnight, takes every value the simulator's checker received (the platform's view: the SenML of
docs/platform.md, once per name and time), writes them into a throwaway PostgreSQL database made
by the platform's migrations, and places the scenario's nodes around a reference point (their
scenario x/y in metres east/north of REF_LATLON). Then: every entity the API serves (latest and
temporal) validated against the vendored schemas and expanded with pyld; an ngsildclient session;
the csv export validated by frictionless; the page in headless Chromium with a screenshot.
Prints a transcript to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "hostshims")]

from central import export as exp  # noqa: E402
from central.ngsi import entities as ents  # noqa: E402
from central.ngsi import models  # noqa: E402
from central.ngsi.store import Store  # noqa: E402
from simulator import scenario  # noqa: E402
from simulator.runner import Runner  # noqa: E402
from tests.central import pg  # noqa: E402

REF_LATLON = (48.8530, 2.3499)  # a street corner in Paris: where the demo street is put
PARIS_MIDNIGHT = 1763766000  # 2025-11-22T00:00+01:00


def run_day(hours: float, workdir: Path):
    text = (scenario.SCENARIO_DIR / "demo.toml").read_text()
    text = text.replace('duration = "6h"', 'duration = "%dh"\nstart_unix = %d' % (hours, PARIS_MIDNIGHT))
    path = workdir / "demo-day.toml"
    path.write_text(text)
    sc = scenario.load(path)
    t0 = time.monotonic()
    result = Runner(sc, workdir / "run").run()
    return sc, result, time.monotonic() - t0


def to_rows(sc, result):
    eui_of = {n.name: n.dev_eui.lower() for n in sc.nodes}
    devices, series = [], {}
    for n in sc.nodes:
        # Equirectangular offset: metres east/north to degrees (fine over a street's few hundred metres).
        lat = REF_LATLON[0] + n.y / 111_320.0
        lon = REF_LATLON[1] + n.x / (111_320.0 * math.cos(math.radians(REF_LATLON[0])))
        devices.append({"dev_eui": eui_of[n.name], "gateway_id": sc.gateway.gateway_id, "latitude": round(lat, 6),
                        "longitude": round(lon, 6), "height_m": 4.0, "support": "lamp-post",
                        "interval_s": n.interval_s})
    for (node, quantity, t), v in result.ledger.arrivals.items():
        series.setdefault(eui_of[node], {}).setdefault(quantity, []).append((t, v))
    for s in series.values():
        for pairs in s.values():
            pairs.sort()
    return devices, series


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=31)  # a whole Paris day and its night (to 07:00)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "ngsi-demo-day")
    ap.add_argument("--screenshot", type=Path)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ngsi-demo-") as tmp:
        sc, result, wall = run_day(args.hours, Path(tmp))
    s = result.summary
    print("## simulation: demo scenario, %g h from 2025-11-22T00:00+01:00, %.0f s wall" % (args.hours, wall))
    print(json.dumps({k: s.get(k) for k in ("generated", "delivered_unique", "lost_explained", "lost_unexplained")}))
    devices, series = to_rows(sc, result)
    print("values into PostgreSQL: %d" % sum(len(p) for d in series.values() for p in d.values()))
    with pg.database() as dsn:
        pg.insert(dsn, devices, series)
        with pg.serving(dsn, page=True) as srv:
            base = srv.url + "/ngsi-ld/v1"
            print("\n## schema validation of every served entity")
            latest = get(base + "/entities?limit=1000")
            temporal = get(base + "/temporal/entities?limit=1000&lastN=10000")
            counts: dict[str, int] = {}
            failures = 0
            for e in latest:
                errors = models.validate(ents.key_values(e))
                models.expand(ents.with_context(e))
                failures += bool(errors)
                counts[e["type"]] = counts.get(e["type"], 0) + 1
            instances = 0
            for e in temporal:
                for k, v in e.items():
                    if isinstance(v, list):
                        for inst in v:
                            one = {**{kk: vv for kk, vv in e.items() if not isinstance(vv, list)}, k: inst}
                            failures += bool(models.validate(ents.key_values(one)))
                            instances += 1
            print("latest entities: %d %s; temporal entities: %d with %d attribute instances, each validated;"
                  " schema failures: %d" % (len(latest), json.dumps(counts, sort_keys=True), len(temporal),
                                            instances, failures))
            print("\n## ngsildclient session")
            session(srv.server_address[1])
            print("\n## export (csv) and frictionless")
            with Store(dsn) as store:
                files = exp.export(store, PARIS_MIDNIGHT, PARIS_MIDNIGHT + int(args.hours * 3600), "csv", args.out)
            for f in files:
                print("%s  %d bytes" % (f.name, f.stat().st_size))
            val = subprocess.run([sys.executable, "-m", "frictionless", "validate", str(args.out / "datapackage.json")],
                                 capture_output=True, text=True)
            print(val.stdout.strip())
            for name in ("noise_days", "pm_days"):
                print("\n%s.csv:\n%s" % (name, (args.out / (name + ".csv")).read_text().strip()))
            if args.screenshot:
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                run = subprocess.run(["node", str(ROOT / "tests/central/page_check.mjs"), srv.url + "/",
                                      str(args.screenshot)], capture_output=True, text=True, timeout=120, cwd=ROOT)
                print("\n## page: %s" % ("screenshot " + str(args.screenshot) if run.returncode == 0 else run.stderr))
    return 0 if failures == 0 else 1


def session(port: int) -> None:
    """What a user types with ngsildclient, echoed with its answers."""
    from ngsildclient import Client

    client = Client(hostname="127.0.0.1", port=port, verbose=False)
    steps = [
        ("client.types.list()", lambda: client.types.list()),
        ("client.count(type='AirQualityObserved')", lambda: client.count(type="AirQualityObserved")),
        ("[e.id for e in client.query(type='NoiseLevelObserved')]",
         lambda: [e.id for e in client.query(type="NoiseLevelObserved")]),
        ("e = client.query(type='AirQualityObserved', q='pm25>0')[0]; e['pm25'], e['relativeHumidity']",
         lambda: (lambda e: (e["pm25"], e["relativeHumidity"]))(client.query(type="AirQualityObserved",
                                                                              q="pm25>0")[0])),
        ("client.get(<first Device id>)['location.value']",
         lambda: client.get(client.query(type="Device")[0].id)["location.value"]),
    ]
    for text, fn in steps:
        print(">>> " + text)
        print(repr(fn()))
    client.close()


if __name__ == "__main__":
    sys.exit(main())
