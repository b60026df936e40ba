"""Faults during ingest: the database going away, an instance killed with SIGKILL mid-backlog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.mqtt_broker import MosquittoBroker
from tests.platform import pgdb
from tests.platform.helpers import Publisher, Running, make_config, pack, readings, wait_until

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# only this test's database: other tests (and other people's runs) use the same application name
KILL = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'platform-test' AND datname = %s"
)


def devices(n: int) -> list[str]:
    return ["70b3d57ed%07x" % i for i in range(n)]


def expected(euis: list[str], per: int) -> set[tuple[str, str, int]]:
    return {(e, q, t) for e in euis for _, t, vals in readings(per) for q in vals}


def stored(dsn: str) -> list[tuple[str, str, int]]:
    return [
        tuple(r) for r in pgdb.rows(dsn, "SELECT dev_eui, quantity, extract(epoch FROM t)::bigint FROM observations")
    ]


def count(dsn: str) -> int:
    return pgdb.rows(dsn, "SELECT count(*) FROM observations")[0][0]


def test_database_connections_killed_and_refused_during_ingest(tmp_path):
    euis, per = devices(40), 200
    with pgdb.database() as dsn, MosquittoBroker(tmp_path) as broker:
        dbname = dsn.rsplit("/", 1)[1]
        pub = Publisher(broker)
        stop = threading.Event()

        def saboteur() -> None:
            with psycopg.connect(pgdb.ADMIN, autocommit=True) as admin:
                while not stop.is_set():
                    admin.execute(KILL, (dbname,))
                    time.sleep(0.07)
                # then the database refuses connections for a while: the service backs off and retries
                admin.execute("ALTER DATABASE %s ALLOW_CONNECTIONS false" % dbname)
                admin.execute(KILL, (dbname,))
                time.sleep(1.0)
                admin.execute("ALTER DATABASE %s ALLOW_CONNECTIONS true" % dbname)

        with Running(make_config(broker, dsn, batch_values=500)) as run:
            sab = threading.Thread(target=saboteur)
            sab.start()
            for e in euis[:20]:
                pub.publish("edge/lamp-1/up", pack(e, readings(per)))
            stop.set()
            for e in euis[20:]:
                pub.publish("edge/lamp-2/up", pack(e, readings(per)))
            sab.join()
            assert wait_until(lambda: count(dsn) == len(euis) * per * 2, 60)
            assert run.service.counts["db_errors"] >= 2
        pub.close()
        got = stored(dsn)
        assert len(got) == len(set(got))
        assert set(got) == expected(euis, per)


def _instance(config: Path, client_id: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "platform", "run", "--config", str(config), "--client-id", client_id],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),  # noqa: SIM115 - the child owns it
        env=dict(os.environ, PYTHONPATH="%s:%s/hostshims" % (ROOT, ROOT)),
    )


def _wait_log(log: Path, text: str, n: int = 1, timeout: float = 20) -> bool:
    return wait_until(lambda: log.exists() and log.read_text().count(text) >= n, timeout)


def test_two_instances_share_the_backlog_and_a_kill_9_loses_and_duplicates_nothing(tmp_path):
    euis, per = devices(40), 400
    with pgdb.database() as dsn, MosquittoBroker(tmp_path) as broker:
        config = tmp_path / "platform.toml"
        init = [sys.executable, "-m", "cli.main", "platform", "init", "--config", str(config)]
        subprocess.run([*init, "--mqtt-url", broker.url, "--dsn", dsn], cwd=ROOT, check=True, capture_output=True)
        logs = {name: tmp_path / ("%s.log" % name) for name in ("a", "b")}
        procs = {name: _instance(config, "platform-" + name, logs[name]) for name in ("a", "b")}
        try:
            for name in procs:
                assert _wait_log(logs[name], "subscribed to"), logs[name].read_text()
            pub = Publisher(broker)
            for i, e in enumerate(euis):
                pub.publish("edge/lamp-%d/up" % (i % 3), pack(e, readings(per)))
                if i == 15:
                    assert wait_until(lambda: count(dsn) > 0)
                    names = {r[0] for r in pgdb.rows(dsn, "SELECT application_name FROM pg_stat_activity")}
                    assert {"platform-a", "platform-b"} <= names  # both instances are writing
                    procs["a"].send_signal(signal.SIGKILL)
                    procs["a"].wait(10)
            pub.close()
            logs["a2"] = tmp_path / "a2.log"
            procs["a"] = _instance(config, "platform-a", logs["a2"])  # back under the same session
            assert wait_until(lambda: count(dsn) == len(euis) * per * 2, 90)
        finally:
            for p in procs.values():
                p.terminate()
                p.wait(10)
        assert _wait_log(logs["a2"], "session present: True")
        final = logs["a2"].read_text().rsplit("stopping; counts ", 1)[1]
        assert "'acked'" in final  # what the killed run held, and its share since, came to the restarted one
        got = stored(dsn)
        assert len(got) == len(set(got))
        assert set(got) == expected(euis, per)


def test_broker_restarts_with_a_backlog_queued_and_during_ingest(tmp_path):
    """What the instance's session holds survives broker restarts. Mosquitto (2.0) restores a
    session's queue but not its shared subscriptions: messages published after a broker restart
    reach the group once an instance has reconnected and subscribed again (docs/platform-ingest.md)."""
    euis, per = devices(45), 200
    with pgdb.database() as dsn, MosquittoBroker(tmp_path, persistence=True) as broker:
        cfg = make_config(broker, dsn, batch_values=400, receive_maximum=2)
        Running(cfg).stop()  # the session exists; the instance is away
        pub = Publisher(broker)
        for e in euis[:15]:
            pub.publish("edge/lamp-1/up", pack(e, readings(per)))
        pub.close()
        broker.stop()  # clean stop: Mosquitto saves sessions and queues
        broker.start()
        with Running(cfg) as run:
            pub = Publisher(broker)
            for e in euis[15:30]:
                pub.publish("edge/lamp-1/up", pack(e, readings(per)))
            pub.close()
            assert wait_until(lambda: count(dsn) > 0)
            before = run.service.connections
            broker.stop()  # again, while the instance is working through its queue
            broker.start()
            assert wait_until(lambda: run.service.connections > before and run.service.subscribed.is_set(), 30)
            pub = Publisher(broker)
            for e in euis[30:]:
                pub.publish("edge/lamp-1/up", pack(e, readings(per)))
            pub.close()
            assert wait_until(lambda: count(dsn) == len(euis) * per * 2, 60)
        got = stored(dsn)
        assert len(got) == len(set(got)) and set(got) == expected(euis, per)
