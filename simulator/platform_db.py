"""`--platform postgres`: the platform ingest (central/) beside the checker, into a real PostgreSQL.

The simulated run then ends in the tables a city would use. The ingest reads the run's broker as
any platform instance would (MQTT 5 shared subscription, or 3.1.1 with a broker that has only that);
at the end its observations are compared, key by key and value by value, with what the checker
received, so the run proves both consumers got the same data.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from central import config, db
from central.service import Service
from simulator.checker import Ledger


class PlatformIngest:
    def __init__(self, dsn: str, port: int, topic_root: str, mqtt_version: int) -> None:
        db.upgrade(dsn)
        self.dsn = dsn
        cfg = config.from_dict(
            {
                "database": {"dsn": dsn},
                "mqtt": {"url": "mqtt://127.0.0.1:%d" % port, "topic_root": topic_root, "client_id": "sim-platform",
                         "version": "5" if mqtt_version == 5 else "3.1.1"},
                "ingest": {"batch_wait_s": 0.05},
                "checks": {"interval_s": 0.0},  # checks follow the wall clock; the run's data is in virtual time
            }
        )  # fmt: skip
        self.service = Service(cfg)
        self._thread = threading.Thread(target=self.service.run, name="platform-ingest", daemon=True)

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        if not self.service.subscribed.wait(timeout_s):
            raise RuntimeError("the platform ingest did not subscribe to the run's broker")

    def stop(self) -> None:
        self.service.stop()
        self._thread.join(10)

    def compare(self, ledger: Ledger, dev_euis: dict[str, str], wait_s: float = 10.0) -> dict[str, Any]:
        """Wait until the platform holds as many values as the checker, then compare both."""
        want = {(dev_euis[node].lower(), q, int(t)): v for (node, q, t), v in dict(ledger.arrivals).items()}
        deadline = time.monotonic() + wait_s
        with db.connect(self.dsn) as conn:
            while True:
                n = conn.execute("SELECT count(*) FROM observations").fetchone()[0]  # type: ignore[index]
                if n >= len(want) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            rows = conn.execute(
                "SELECT dev_eui, quantity, extract(epoch FROM t)::bigint, value FROM observations"
            ).fetchall()
            dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]  # type: ignore[index]
        got = {(e, q, t): v for e, q, t, v in rows}
        differ = sum(1 for k, v in want.items() if k in got and abs(got[k] - v) > 1e-9)
        return {
            "values_stored": len(got),
            "values_at_checker": len(want),
            "missing": len(want.keys() - got.keys()),
            "extra": len(got.keys() - want.keys()),
            "different_values": differ,
            "dead_letters": dead,
            "counts": dict(self.service.counts),
            "same_as_checker": got.keys() == want.keys() and differ == 0,
        }
