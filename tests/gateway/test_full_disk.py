"""The agent on a real full disk: a tmpfs of 1 MiB mounted by the test (root, as in CI's container).

Readings are evicted oldest first and counted, the agent keeps receiving and says so in an alert,
counter-file writes are skipped instead of crashing it, and a restart on the full disk works. Where
mounting is not allowed the tests are skipped and say why: only a real filesystem gives ENOSPC in
every file the agent writes at once.
"""

import os
import subprocess
import time

import pytest

from gateway.metrics import METRICS_FILE, Metrics
from gateway.registry import Registry
from tests.gateway.harness import NWK, AgentThread, add_abp, make_config, uplink
from tests.gateway.pf import Forwarder, rxpk

ADDR = "26011bda"
DEV = "0004a30b001c0530"
SHM_BYTES = 32 * 1024  # the -shm index SQLite makes beside a WAL-mode database (8 pages of 4 KiB)


@pytest.fixture
def disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): %s" % r.stderr.decode().strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(directory, name="filler"):
    """Take every free byte left on the filesystem."""
    with open(os.path.join(directory, name), "ab", buffering=0) as f:
        try:
            while True:
                f.write(bytes(4096))
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0")
        except OSError:
            pass


def readings(i, t0):
    return [{"seq": i * 8 + k + 1, "t": t0 - 600 + k, "pm2_5": 1.5 + k, "laeq": 40.0 + i % 7, "temperature": 20.5}
            for k in range(8)]  # fmt: skip


def test_a_full_disk_evicts_keeps_receiving_alerts_and_restarts(disk):
    cfg = make_config(disk, storage={"metrics_interval_s": 0.1}, ingest={"commit_deadline_ms": 20},
                      buffer={"check_interval_s": 1.0})  # fmt: skip
    add_abp(cfg, DEV, ADDR)
    a = AgentThread(cfg)
    f = Forwarder(a.address)
    n, t0 = 3000, int(time.time())
    try:
        for i in range(n):  # 24,000 readings: several times what 1 MiB holds
            f.push([rxpk(uplink(ADDR, i, readings(i, t0)))])
            if i % 20 == 19:  # paced like a district's traffic: commits of a few uplinks each
                a.wait("received_uplinks", i - 20, timeout=2)
        m = a.metrics
        assert a.wait("received_uplinks", n, timeout=10) == n  # every uplink counted as received
        evicted = sum(a.agent.buffer.evicted_on_full.values())
        assert evicted > 0, "the disk never filled up"
        st = a.agent.buffer.stats()
        assert st.pending_readings + sum(st.evicted.values()) == 8 * n  # nothing vanished uncounted
        assert st.pending_readings > 8 * n // 10  # the disk holds readings still: the newest ones
        assert m.get("internal_errors") == 0 and m.get("dropped_uplinks") == 0
        health = next(s for s in a.agent.services if hasattr(s, "alerts_sent"))
        end = time.monotonic() + 3
        while not any(al.alert == "disk_full" for al in health.alerts_sent) and time.monotonic() < end:
            time.sleep(0.05)
        assert [al.state for al in health.alerts_sent if al.alert == "disk_full"][:1] == ["raised"]
        assert a.wait("evicted_readings", evicted, timeout=3) >= evicted  # the health check counts them for status
        print("full disk: %d uplinks, %d readings evicted, %d counter-file writes skipped"
              % (n, evicted, m.get("metrics_writes_skipped")))  # fmt: skip
    finally:
        f.close()
        a.stop()
    fill(disk / "data")  # what the reserve left: now not one byte is free
    b = AgentThread(cfg)  # the restart: the reserve is given back, the files open
    f = Forwarder(b.address)
    try:
        before = b.metrics.get("received_uplinks")
        f.push([rxpk(uplink(ADDR, n, {"seq": 10**6, "t": int(time.time()), "pm10": 3.0}))])
        assert b.wait("received_uplinks", before + 1) == before + 1
        f.push([rxpk(uplink(ADDR, n - 1, {"seq": 10**6 + 1, "t": int(time.time()), "pm10": 3.0}))])
        assert b.wait("replays", 1) == 1  # the counters survived the full disk
    finally:
        f.close()
        b.stop()


def test_counter_file_writes_are_skipped_on_a_full_disk(disk):
    m = Metrics(disk / METRICS_FILE)
    m.inc("received_uplinks", 5)
    assert m.save(force=True)
    fill(disk)
    m.inc("received_uplinks")
    assert not m.save(force=True)  # ENOSPC: skipped, counted, no exception
    assert m.get("metrics_writes_skipped") == 1
    assert not (disk / (METRICS_FILE + ".tmp")).exists()  # no half-written temp file holds space
    assert Metrics(disk / METRICS_FILE).get("received_uplinks") == 5  # the last good file is intact
    os.remove(disk / "filler")
    assert m.save(force=True) and Metrics(disk / METRICS_FILE).get("received_uplinks") == 6


def test_the_registry_opens_on_a_full_disk_with_its_counter_log_applied_in_memory(disk):
    reg = Registry.open(disk)
    reg.add_abp(DEV, ADDR, NWK, NWK)
    reg.close()
    reg = Registry.open(disk)
    s = reg.session(DEV)
    s.fcnt_up_next, s.last_seq = 4242, 77
    reg.save_counters([s])  # logged, not folded: the process dies here
    reg._db.close()
    fill(disk)
    filler = disk / "filler"
    os.truncate(filler, filler.stat().st_size - SHM_BYTES)  # room for SQLite's -shm index, not one page more
    again = Registry.open(disk)  # the fold at open cannot write: the log is read instead
    try:
        assert (again.session(DEV).fcnt_up_next, again.session(DEV).last_seq) == (4242, 77)
    finally:
        again._db.close()
