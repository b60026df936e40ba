"""Counters without a lock per count: each thread adds into its own dict, readers sum them."""

import json
import threading

from gateway.metrics import Metrics


def test_counts_from_many_threads_add_up_exactly(tmp_path):
    m = Metrics(tmp_path / "metrics.json", min_interval_s=0)
    m.inc("received_uplinks", 5)  # this thread
    start = threading.Barrier(4)

    def count():
        start.wait()
        for _ in range(20_000):
            m.inc("received_uplinks")
            m.inc("push_data", 2)

    threads = [threading.Thread(target=count) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert m.get("received_uplinks") == 80_005
    assert m.get("push_data") == 160_000
    assert m.save(force=True)
    saved = json.loads((tmp_path / "metrics.json").read_text())["counters"]
    assert saved["received_uplinks"] == 80_005 and saved["push_data"] == 160_000
    again = Metrics(tmp_path / "metrics.json")  # cumulative across a restart
    again.inc("received_uplinks")
    assert again.get("received_uplinks") == 80_006


def test_put_sets_the_total_whoever_counted_before():
    m = Metrics()
    t = threading.Thread(target=lambda: m.inc("internal_errors", 3))
    t.start()
    t.join()
    m.put("internal_errors", 0)
    assert m.get("internal_errors") == 0
    m.inc("internal_errors")
    assert m.get("internal_errors") == 1
    assert m.snapshot()["counters"]["internal_errors"] == 1


def test_the_file_is_rewritten_less_often_while_readings_are_stored_and_none_forwarded(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("gateway.metrics.time.monotonic", lambda: clock[0])
    path = tmp_path / "metrics.json"
    m = Metrics(path, min_interval_s=10)

    def step(seconds, stored=20, forwarded=0):
        clock[0] += seconds
        m.inc("stored_readings", stored)
        m.inc("forwarded_readings", forwarded)
        return m.save()

    assert step(0)
    assert step(10, forwarded=20)  # the broker takes them: every 10 s
    assert [step(10) for _ in range(6)] == [True] * 6  # an outage's first minute: still every 10 s
    assert [step(10) for _ in range(6)] == [False] * 5 + [True]  # then every 60 s
    assert json.loads(path.read_text())["interval_s"] == 60
    assert step(10, forwarded=20)  # the broker is back: at once, then every 10 s again
    assert json.loads(path.read_text())["interval_s"] == 10
    assert step(10, stored=0)  # nothing at all moves: the usual interval
