"""`edge sim run --platform postgres`: a simulated run ends in the platform tables, same as the checker."""

import pytest

from simulator import scenario
from simulator.runner import Runner
from tests.platform import pgdb

pytestmark = pytest.mark.slow


def test_a_simulated_run_with_deflated_packs_ends_in_postgres(tmp_path):
    text = (scenario.SCENARIO_DIR / "demo.toml").read_text().replace('duration = "6h"', 'duration = "40m"')
    text = text.replace('at = "2h"', 'at = "10m"')  # the backhaul outage comes early: a backlog to drain
    text += '\n[gateway.extra.mqtt]\ncompression = "deflate"\n'
    path = tmp_path / "small.toml"
    path.write_text(text)
    with pgdb.database(upgrade=False) as dsn:
        s = Runner(scenario.load(path), tmp_path / "run", platform_dsn=dsn).run().summary
        p = s["platform"]
        assert s["deflated_messages"] == s["messages"] > 0
        assert p["values_stored"] == p["values_at_checker"] > 0 and p["same_as_checker"], p
        assert p["dead_letters"] == 0 and s["ok"]
        nodes = pgdb.rows(dsn, "SELECT count(*) FROM devices WHERE last_t IS NOT NULL")[0][0]
        assert nodes == len(scenario.load(path).nodes)
