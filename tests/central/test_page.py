"""The platform page in headless Chromium against a real server and database."""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.central import pg
from tests.central.test_ngsi_api import AIR, DEVICES, NOISE

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or not (ROOT / "node_modules/playwright-core").is_dir() or not shutil.which("node"),
    reason="needs Debian chromium (scripts/bootstrap.sh) and npm ci")


def recent_series(now):
    """Two days of hourly values ending now: noise for Lden, PM above the WHO PM2.5 level."""
    start = now - now % 3600 - 47 * 3600
    hours = [start + 3600 * i for i in range(48)]
    return {
        AIR: {"pm2_5": [(t, 18.0) for t in hours], "pm10": [(t, 20.0) for t in hours],
              "temperature": [(t, 11.0) for t in hours], "humidity": [(t, 70.0) for t in hours]},
        NOISE: {"laeq": [(t, 55.0) for t in hours], "lamax": [(t, 71.0) for t in hours],
                "count_in": [(t, 3) for t in hours], "count_out": [(t, 2) for t in hours]},
    }


def test_page_shows_plan_values_chart_and_indicators(tmp_path):
    now = int(time.time())
    with pg.database() as dsn:
        pg.insert(dsn, DEVICES, recent_series(now))
        pg.metadata(dsn, AIR, [{"latitude": 48.85, "longitude": 2.35, "at": now - 86400}])  # not an observation
        pg.alert(dsn, "device_silent", AIR, "", now - 7200, "silent for 2 h on every gateway")
        pg.alert(dsn, "stuck_value", NOISE, "laeq", now - 9000, "was stuck", cleared_at=now - 3600)
        with pg.serving(dsn, page=True) as srv:
            shot = tmp_path / "page.png"
            run = subprocess.run(["node", str(ROOT / "tests/central/page_check.mjs"), srv.url + "/", str(shot)],
                                 capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    page = json.loads(run.stdout)
    assert page["ready"] == "1" and page["errors"] == [] and page["outside"] == []
    assert len(page["alerts"]) == 1 and "device_silent" in page["alerts"][0]  # the cleared one is not open
    assert page["circles"] == 3  # the located devices; the one without coordinates is not on the plan
    assert any("pm25 18" in row for row in page["latest"])
    assert not any("DeviceOperation" in row for row in page["latest"])
    assert page["noise"] and all(r[0] == NOISE[-4:] for r in page["noise"])
    full_days = [r for r in page["noise"] if r[5] != "–"]
    # 55 dB(A) in every period: Lden = 10·lg((12·10^5.5 + 4·10^6 + 8·10^6.5)/24) = 61.4
    assert full_days and full_days[0][2:] == ["55", "55", "55", "61.4"]
    pm25 = [r for r in page["pm"] if r[2][0] == "PM2.5" and r[3][0] != "incomplete"]
    assert pm25 and all(r[3] == ["18", "bad"] for r in pm25)  # 18 > 15: shown as an exceedance
    assert shot.stat().st_size > 10_000
