"""The SQLite reading buffer: durability, claim order, acknowledgement, eviction, damaged files."""

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from gateway.store.buffer import ReadingBuffer
from gateway.store.codec import BadRecord
from gateway.store.errors import StoreCorrupt
from gateway.store.records import Reading, Uplink
from gateway.store.recover import open_buffer

DEV_A = "70b3d57ed0000001"
DEV_B = "70b3d57ed0000002"


def uplink(dev=DEV_A, fcnt=1, rx=1763800000.25):
    return Uplink(
        dev_eui=dev,
        dev_addr="26011f2a",
        fcnt=fcnt,
        fport=2,
        phy=bytes.fromhex("40f17dbe4900020001954378762b11ff0d"),
        received_at=rx,
        gateway_eui="b827ebfffe000001",
        rssi=-97.0,
        snr=7.25,
        freq_hz=868100000,
        datr="SF9BW125",
    )


def reading(dev=DEV_A, seq=1, t=1763799990, **values):
    return Reading(dev, seq, t, values or {"pm2_5": 12.3, "temperature": 21.37, "humidity": 48.5})


def stored_values(buf):
    """Every (dev, seq, t, values) in the buffer, by claiming everything."""
    out = []
    while (c := buf.claim(1000)) is not None:
        for row in c.rows:
            out += [(row.dev_eui, s, t, v) for s, t, v in row.readings]
    return out


def test_commit_then_claim_returns_exact_values_and_the_uplink(tmp_path):
    buf = ReadingBuffer(tmp_path / "b.db")
    values = {"pm2_5": 12.3, "pm10": 20.1, "temperature": -5.37, "humidity": 48.5, "pressure": 101320.0, "count_in": 17}
    buf.commit_uplinks([(uplink(), [reading(seq=7, t=1763799940, **values), reading(seq=8, t=1763800000)])])
    claim = buf.claim(100)
    assert claim is not None and len(claim.rows) == 1
    row = claim.rows[0]
    assert row.dev_eui == DEV_A and row.rx == 1763800000
    assert row.readings[0] == (7, 1763799940, values)
    assert row.readings[1][:2] == (8, 1763800000)
    assert buf.uplink_of(row.id) == uplink()
    buf.close()


def test_file_is_wal_with_full_sync(tmp_path):
    buf = ReadingBuffer(tmp_path / "b.db")
    buf.commit_uplinks([(uplink(), [reading()])])
    own = buf._conn()
    assert own.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert own.execute("PRAGMA page_size").fetchone()[0] == 512
    assert own.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    # EXCLUSIVE: the WAL index lives in the agent's memory, no -shm pages to write back; another
    # connection waits until the buffer is closed
    assert own.execute("PRAGMA locking_mode").fetchone()[0] == "exclusive"
    db = sqlite3.connect(tmp_path / "b.db", timeout=0.1)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        db.execute("SELECT count(*) FROM reading").fetchone()
    buf.close()
    assert db.execute("SELECT count(*) FROM reading").fetchone()[0] == 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_local_readings_need_no_uplink(tmp_path):
    buf = ReadingBuffer(tmp_path / "b.db")
    buf.commit_local([reading(dev=DEV_B, seq=1), reading(dev=DEV_A, seq=5), reading(dev=DEV_B, seq=2)])
    claim = buf.claim(100)
    assert claim is not None
    assert sorted((r.dev_eui, len(r.readings)) for r in claim.rows) == [(DEV_A, 1), (DEV_B, 2)]
    assert all(buf.uplink_of(r.id) is None for r in claim.rows)
    buf.close()


@pytest.mark.parametrize(
    "bad",
    [
        reading(pm_unknown=1.0),
        reading(pm2_5=math.nan),
        reading(temperature=math.inf),
        Reading("70B3D57ED0000001", 1, 0, {"pm2_5": 1.0}),
        Reading("70b3d57e", 1, 0, {"pm2_5": 1.0}),
    ],
)
def test_bad_readings_are_refused_and_nothing_of_the_call_is_stored(tmp_path, bad):
    buf = ReadingBuffer(tmp_path / "b.db")
    with pytest.raises(BadRecord):
        buf.commit_local([reading(seq=1), bad])
    assert buf.claim(100) is None
    buf.close()


def test_reading_of_another_device_inside_an_uplink_is_refused(tmp_path):
    buf = ReadingBuffer(tmp_path / "b.db")
    with pytest.raises(BadRecord, match="inside an uplink"):
        buf.commit_uplinks([(uplink(dev=DEV_A), [reading(dev=DEV_B)])])
    buf.close()


def test_inflight_rows_are_pending_again_after_reopen(tmp_path):
    buf = ReadingBuffer(tmp_path / "b.db")
    buf.commit_uplinks([(uplink(fcnt=i), [reading(seq=i)]) for i in range(10)])
    assert buf.claim(4) is not None
    buf._db.close()  # simulated crash: no flush, no close
    buf._db = None
    again = ReadingBuffer(tmp_path / "b.db")
    assert sorted(s for _, s, _, _ in stored_values(again)) == list(range(10))
    again.close()


def test_ack_deletes_only_after_flush_and_release_makes_rows_claimable_again(tmp_path):
    buf = ReadingBuffer(tmp_path / "b.db")
    buf.commit_uplinks([(uplink(fcnt=i), [reading(seq=i)]) for i in range(6)])
    first = buf.claim(2)
    second = buf.claim(2)
    assert first is not None and second is not None
    assert buf.claim(2) is not None  # the last two, now all six in flight
    assert buf.claim(2) is None
    buf.ack(first.ids)
    buf.release(second.ids)
    assert buf.stats().pending_readings == 4
    again = buf.claim(10)
    assert again is not None and again.ids == second.ids
    assert buf.flush() == 2
    assert buf._conn().execute("SELECT count(*) FROM reading").fetchone()[0] == 4
    buf.close()


def test_live_rows_come_before_the_backlog(tmp_path):
    path = tmp_path / "b.db"
    buf = ReadingBuffer(path)
    buf.commit_uplinks([(uplink(fcnt=i), [reading(seq=i)]) for i in range(5)])
    buf.close()
    buf = ReadingBuffer(path)  # these five are now backlog
    first = buf.claim(2)
    assert first is not None and [r.readings[0][0] for r in first.rows] == [0, 1] and first.live_rows == 0
    buf.commit_uplinks([(uplink(fcnt=100), [reading(seq=100)])])
    nxt = buf.claim(3)
    assert nxt is not None
    assert [r.readings[0][0] for r in nxt.rows] == [100, 2, 3] and nxt.live_rows == 1
    buf.close()


def test_claim_respects_the_reading_limit_but_always_takes_one_row(tmp_path):
    buf = ReadingBuffer(tmp_path / "b.db")
    buf.commit_uplinks([(uplink(), [reading(seq=i) for i in range(5)]), (uplink(fcnt=2), [reading(seq=9)])])
    c = buf.claim(3)
    assert c is not None and c.readings == 5  # one row of five cannot be split
    c2 = buf.claim(3)
    assert c2 is not None and c2.readings == 1
    buf.close()


def test_eviction_by_age_and_by_bytes_is_counted_per_device_and_persisted(tmp_path):
    path = tmp_path / "b.db"
    buf = ReadingBuffer(path)
    old = [(uplink(dev=DEV_A, fcnt=i, rx=1000.0 + i), [reading(seq=i)]) for i in range(3)]
    old += [(uplink(dev=DEV_B, fcnt=i, rx=1000.0 + i), [reading(dev=DEV_B, seq=i)]) for i in range(2)]
    new = [(uplink(dev=DEV_A, fcnt=10 + i, rx=5000.0), [reading(seq=10 + i)]) for i in range(1000)]
    buf.commit_uplinks(old)
    buf.commit_uplinks(new)
    assert buf.evict(max_age_s=3000, now=5000.0) == {DEV_A: 3, DEV_B: 2}
    used = buf.stats().used_bytes
    evicted = buf.evict(max_bytes=used // 2)
    assert evicted[DEV_A] > 100
    assert buf.stats().used_bytes <= used // 2 + 8192  # WAL pages still count until checkpoint
    buf.close()
    again = ReadingBuffer(path)
    assert again.stats().evicted == {DEV_A: 3 + evicted[DEV_A], DEV_B: 2}
    remaining = [s for _, s, _, _ in stored_values(again)]
    assert remaining == sorted(remaining) and remaining[-1] == 1009  # the oldest went first
    again.close()


def test_eviction_skips_rows_in_flight(tmp_path):
    buf = ReadingBuffer(tmp_path / "b.db")
    buf.commit_uplinks([(uplink(fcnt=i, rx=1000.0), [reading(seq=i)]) for i in range(4)])
    c = buf.claim(2)
    assert c is not None
    assert buf.evict(max_age_s=10, now=5000.0) == {DEV_A: 2}
    buf.ack(c.ids)
    buf.flush()
    assert buf.claim(10) is None
    buf.close()


def test_garbage_file_is_quarantined_and_a_fresh_buffer_opens(tmp_path):
    path = tmp_path / "b.db"
    path.write_bytes(b"this is not a database" * 200)
    with pytest.raises(StoreCorrupt):
        ReadingBuffer(path)
    buf, rec = open_buffer(str(path))
    assert rec is not None and os.path.exists(rec.quarantined) and rec.salvaged_rows == 0
    buf.commit_local([reading()])
    assert buf.stats().pending_readings == 1
    buf.close()


def _filled(path, rows=2000):
    buf = ReadingBuffer(path)
    for k in range(rows // 100):
        buf.commit_uplinks([(uplink(fcnt=k * 100 + i), [reading(seq=k * 100 + i)]) for i in range(100)])
    buf.close()


def test_truncated_file_is_detected_and_replaced_by_a_working_buffer(tmp_path):
    path = tmp_path / "b.db"
    _filled(path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) * 2 // 3)
    buf, rec = open_buffer(str(path))
    assert rec is not None and "malformed" in rec.reason
    assert buf.stats().pending_readings == rec.salvaged_readings  # SQLite reads nothing of a cut file
    buf.commit_local([reading()])
    assert buf.claim(10) is not None
    buf.close()


def test_garbage_pages_in_the_middle_lose_only_their_rows(tmp_path):
    path = tmp_path / "b.db"
    _filled(path)
    with open(path, "r+b") as f:
        page = int.from_bytes(f.read(100)[16:18], "big")  # the page size in the SQLite header
        f.seek(100 * page)
        f.write(b"\xff" * 2 * page)  # two pages
    buf, rec = open_buffer(str(path))
    assert rec is not None and "integrity" in rec.reason
    assert 1900 <= rec.salvaged_rows < 2000
    seqs = [s for _, s, _, _ in stored_values(buf)]
    assert len(seqs) == rec.salvaged_rows and seqs[0] == 0 and seqs[-1] == 1999
    buf.close()


_CHILD = r"""
import sys, time
from gateway.store.buffer import ReadingBuffer
from gateway.store.records import Reading
buf = ReadingBuffer(sys.argv[1])
seq = 0
while True:
    batch = [Reading("70b3d57ed0000001", s, 1763800000 + s, {"pm2_5": s % 5000 / 10}) for s in range(seq, seq + 7)]
    buf.commit_local(batch)
    seq += 7
    print(seq, flush=True)  # everything below seq is committed
"""


def test_every_committed_reading_survives_kill_9(tmp_path):
    path = str(tmp_path / "b.db")
    last = 0
    for round_ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, path], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # its first commit: the kill lands among commits, however slow the start
        time.sleep(0.05 + 0.1 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        lines = (first + out).split()
        assert lines, "the child committed nothing"
        committed = int(lines[-1])
        buf = ReadingBuffer(path)
        seqs = {s for _, s, _, _ in stored_values(buf)}
        buf.close()
        # the child restarts from seq 0 each round; rows accumulate
        assert set(range(committed)) <= seqs
        last = max(last, committed)
    assert last > 0


def _wal_frames(buf: ReadingBuffer) -> int:
    page = buf._conn().execute("PRAGMA page_size").fetchone()[0]
    try:
        return max(0, os.path.getsize(buf.path + "-wal") - 32) // (page + 24)
    except OSError:
        return 0


def test_deletes_riding_a_commit_add_no_wal_frames(tmp_path):
    """Acknowledged rows are deleted first in the next commit, so its inserts reuse the freed pages:
    a steady commit -> forward -> ack cycle writes no more WAL than inserting alone (bench (c))."""

    def cost(ack: bool) -> float:
        buf = ReadingBuffer(tmp_path / ("ack.db" if ack else "keep.db"))
        buf._conn().execute("PRAGMA wal_autocheckpoint=0")
        frames = []
        for c in range(30):
            before = _wal_frames(buf)
            buf.commit_uplinks([(uplink(fcnt=c * 100 + i), [reading(seq=c * 100 + i)]) for i in range(100)])
            frames.append(_wal_frames(buf) - before)
            if ack:  # otherwise the rows stay: inserts alone
                claim = buf.claim(1000)
                assert claim is not None and claim.readings == 100
                buf.ack(claim.ids)
        buf.close()
        return sum(frames[10:]) / 20

    assert cost(ack=True) <= cost(ack=False) + 1


def test_commit_deletes_only_acknowledged_rows(tmp_path):
    buf = ReadingBuffer(tmp_path / "b.db")
    buf.commit_uplinks([(uplink(fcnt=i), [reading(seq=i)]) for i in range(10)])
    claim = buf.claim(100)
    assert claim is not None
    buf.ack(claim.ids[::2])
    buf.release(claim.ids[1::2])
    buf.commit_uplinks([(uplink(fcnt=10), [reading(seq=10)])])  # the acknowledged rows ride along
    assert buf.acked_unflushed == 0
    assert sorted(s for _, s, _, _ in stored_values(buf)) == [1, 3, 5, 7, 9, 10]
    buf.close()


_ACK_CHILD = r"""
import sys, time
from gateway.store.buffer import ReadingBuffer
from gateway.store.records import Reading
buf = ReadingBuffer(sys.argv[1])
for s in range(20):
    buf.commit_local([Reading("70b3d57ed0000001", s, 1763800000 + s, {"pm2_5": s / 10})])
claim = buf.claim(100)
buf.ack(claim.ids[:12])  # PUBACK for twelve rows, not yet deleted
print(len(claim.ids), flush=True)
time.sleep(60)
"""


def test_kill_9_between_ack_and_delete_only_resends(tmp_path):
    path = str(tmp_path / "b.db")
    proc = subprocess.Popen([sys.executable, "-c", _ACK_CHILD, path], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "20"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    buf = ReadingBuffer(path)
    assert sorted(s for _, s, _, _ in stored_values(buf)) == list(range(20))  # all pending again
    buf.close()


def test_an_older_file_keeps_its_page_size_and_counts_its_bytes_with_it(tmp_path):
    path = tmp_path / "b.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA page_size=1024")
    db.execute("CREATE TABLE t (x)")  # the file now exists with 1 KiB pages
    db.close()
    buf = ReadingBuffer(path)
    buf.commit_uplinks([(uplink(fcnt=i), [reading(seq=i)]) for i in range(200)])
    db = buf._conn()
    assert db.execute("PRAGMA page_size").fetchone()[0] == 1024
    pages = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
    assert buf.stats().used_bytes == pages * 1024
    buf.close()
