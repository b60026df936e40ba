"""A full disk and a read-only disk under the buffer and the forwarder: typed errors, evictions
counted per device, and service that goes on.

The disk is a real small filesystem: a tmpfs of 192 KiB mounted by the test (needs root, as in
CI's container). Where mounting is not allowed, the same SQLite error (SQLITE_FULL) is provoked
with PRAGMA max_page_count, and read-only with PRAGMA query_only; the test says which it used.
"""

import subprocess

import pytest

from gateway.store.buffer import ReadingBuffer
from gateway.store.errors import StoreError, StoreFull, StoreIOError, StoreReadOnly
from gateway.store.records import Reading
from tests.forward.conftest import dedup, make_settings, wait
from tests.mqtt_broker import MosquittoBroker, Subscriber

DEVS = ["70b3d57ed00001%02x" % i for i in range(4)]


def batch(k, n=40):
    return [
        Reading(DEVS[i % 4], k * n + i, 1763800000 + 60 * (k * n + i), {"pm2_5": 12.5, "laeq": 50.5}) for i in range(n)
    ]


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k,mode=0700", "tmpfs", str(mnt)], capture_output=True)
    kind = "tmpfs" if r.returncode == 0 else "max_page_count"
    print("small disk: %s" % kind)
    yield mnt, kind
    if kind == "tmpfs":
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def open_small(mnt, kind):
    buf = ReadingBuffer(mnt / "b.db", reserve_bytes=48 * 1024)
    if kind == "max_page_count":
        buf._conn().execute("PRAGMA max_page_count=150")
    return buf


def test_full_disk_evicts_the_oldest_counts_them_and_keeps_receiving(small_disk):
    mnt, kind = small_disk
    buf = open_small(mnt, kind)
    committed = 0
    for k in range(150):  # about 6000 readings, several times what fits
        buf.commit_local(batch(k))
        committed += 40
    evicted = sum(buf.evicted_on_full.values())
    st = buf.stats()
    assert evicted > 0, "the disk never filled up"
    assert set(buf.evicted_on_full) == set(DEVS)  # counted per device
    assert st.pending_readings + evicted == committed  # nothing vanished uncounted
    assert sum(st.evicted.values()) == evicted  # and persisted in the file
    newest = {s for r in buf.claim(100_000).rows for s, _, _ in r.readings}
    assert committed - 1 in newest  # the last commit is there: receiving never stopped
    buf.close()


def test_full_disk_with_nothing_to_evict_raises_store_full(small_disk):
    mnt, kind = small_disk
    if kind == "tmpfs":
        (mnt / "ballast").write_bytes(b"\0" * (150 * 1024))  # leaves too little for even one commit
    buf = None
    with pytest.raises(StoreFull, match="disk is full|database or disk is full"):
        buf = open_small(mnt, kind)
        if kind == "max_page_count":
            buf._conn().execute("PRAGMA max_page_count=%d" % buf._conn().execute("PRAGMA page_count").fetchone()[0])
        big = [Reading(DEVS[0], i, 1763800000 + i, {"pm2_5": 1.0, "pm10": 2.0}) for i in range(3000)]
        (buf or open_small(mnt, kind)).commit_local(big)


def test_opening_on_a_read_only_filesystem_is_a_typed_error(small_disk):
    mnt, kind = small_disk
    if kind != "tmpfs":
        pytest.skip("needs a filesystem the test can remount read-only")
    ReadingBuffer(mnt / "b.db", reserve_bytes=0).close()
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    try:
        with pytest.raises(StoreError, match="b.db") as e:
            ReadingBuffer(mnt / "b.db", reserve_bytes=0)
        assert isinstance(e.value, (StoreReadOnly, StoreIOError))
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)


def test_buffer_turning_read_only_is_reported_and_forwarding_resumes_when_writable(tmp_path, running):
    # A filesystem cannot be remounted read-only while SQLite holds it open for writing, as the
    # kernel does after I/O errors; PRAGMA query_only gives the same SQLITE_READONLY to every write.
    buf = ReadingBuffer(tmp_path / "b.db")
    buf.commit_local(batch(0))
    with MosquittoBroker(tmp_path) as broker:
        sub = Subscriber(broker, "edge/gw1/up")
        buf._conn().execute("PRAGMA query_only=ON")
        with pytest.raises(StoreReadOnly, match="readonly"):
            buf.commit_local(batch(1))
        f = running(buf, make_settings(broker, retry_after_failure_s=0.1))
        # readings already stored still go out; deleting them fails and is counted, not fatal
        assert wait(lambda: f.stats.forwarded_readings >= 40)
        assert wait(lambda: f.stats.store_errors.get("StoreReadOnly", 0) >= 1, 15)
        assert f._thread is not None and f._thread.is_alive()
        buf._conn().execute("PRAGMA query_only=OFF")
        buf.commit_local(batch(2))
        assert wait(lambda: len(dedup(sub.snapshot())) == 160)  # 2 values x 80 readings
        assert wait(lambda: buf._conn().execute("SELECT count(*) FROM reading").fetchone()[0] == 0, 15)
        sub.close()
