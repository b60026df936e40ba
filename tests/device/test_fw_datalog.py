# The on-device datalog: append, read back, ack, budget, and recovery after power loss.
import os

from firmware.datalog import Datalog, DatalogError
from tests.device.mptest import raises, tmpdir

T0 = 1763800000


def reading(i):
    return {"t": T0 + 300 * i, "pm2_5": 10.0 + i % 50, "pm10": 20.5, "temperature": 21.37, "humidity": 48.5}


class Stash:
    """RTC memory as the virtual HAL keeps it: survives a reset, not a power loss."""

    def __init__(self):
        self.data = None

    def load(self):
        return self.data

    def save(self, data):
        self.data = data


def files(d):
    out = {}
    for name in os.listdir(d):
        with open(d + "/" + name, "rb") as f:
            out[name] = f.read()
    return out


def restore(d, snapshot):
    for name in os.listdir(d):
        os.remove(d + "/" + name)
    for name in snapshot:
        with open(d + "/" + name, "wb") as f:
            f.write(snapshot[name])


def test_append_assigns_sequence_and_reads_back():
    log = Datalog(tmpdir("dl"), 16384)
    seqs = [log.append(reading(i)) for i in range(10)]
    assert seqs == list(range(1, 11))
    assert log.last_seq == 10 and log.acked_seq == 0 and log.first_seq == 1
    got = list(log.read(3, 5))
    assert [r["seq"] for r in got] == [3, 4, 5]
    assert got[0]["t"] == T0 + 600 and abs(got[0]["pm2_5"] - 12.0) < 1e-9 and got[0]["humidity"] == 48.5


def test_reopen_resumes_sequence_and_ack():
    d = tmpdir("dl")
    log = Datalog(d, 16384)
    for i in range(5):
        log.append(reading(i))
    log.ack(3)
    log.close()
    log = Datalog(d, 16384)
    assert log.last_seq == 5 and log.acked_seq == 3
    assert log.append(reading(5)) == 6
    assert [r["seq"] for r in log.read(1, 100)] == [1, 2, 3, 4, 5, 6]


def test_ack_never_moves_back_or_past_the_log():
    log = Datalog(tmpdir("dl"), 16384)
    for i in range(4):
        log.append(reading(i))
    log.ack(3)
    log.ack(2)
    assert log.acked_seq == 3
    log.ack(99)
    assert log.acked_seq == 4


def test_budget_drops_oldest_segments_and_counts_them():
    d = tmpdir("dl")
    log = Datalog(d, 1024)
    for i in range(200):
        log.append(reading(i))
    assert log.used_bytes <= 1024
    assert log.dropped_segments > 0 and log.dropped_readings > 0
    held = [r["seq"] for r in log.read(0, 10**6)]
    assert held[-1] == 200 and held == list(range(held[0], 201))
    assert held[0] == log.first_seq == 200 - len(held) + 1
    assert log.dropped_readings == held[0] - 1
    log2 = Datalog(d, 1024)
    assert log2.last_seq == 200 and log2.first_seq == held[0]


def test_refuses_bad_readings_without_taking_a_seq():
    log = Datalog(tmpdir("dl"), 16384)
    with raises(ValueError):
        log.append({"t": T0, "pm2_5": -3.0})
    with raises(ValueError):
        log.append({"pm2_5": 3.0})
    assert log.append(reading(0)) == 1


def test_bad_construction_is_refused():
    with raises(DatalogError):
        Datalog(tmpdir("dl"), 100)
    with raises(DatalogError):
        Datalog(tmpdir("dl"), 16384, batch=17)


def _power_loss_at_every_offset(batch, filler):
    d = tmpdir("pl")
    log = Datalog(d, 16384, batch=batch)
    n = 3 * batch
    for i in range(n):
        log.append(reading(i))
    before = files(d)
    for i in range(n, n + batch):
        log.append(reading(i))  # the last of these writes one record
    after = files(d)
    seg = [k for k in after if k.endswith(".seg")][-1]
    old = before.get(seg, b"")
    rec_len = len(after[seg]) - len(old)
    assert rec_len > 10
    for cut in range(rec_len):
        snap = dict(before)
        snap[seg] = old + after[seg][len(old) : len(old) + cut] + filler * (rec_len - cut)
        restore(d, snap)
        log = Datalog(d, 16384, batch=batch)
        held = [r["seq"] for r in log.read(0, 10**6)]
        assert held == list(range(1, n + 1)), (cut, held)
        assert log.torn == (1 if (cut or filler) else 0)
        new = log.append(reading(99))
        assert new > n, "a seq that may have gone on air is never reused"
        log.flush()
        log2 = Datalog(d, 16384, batch=batch)
        assert [r["seq"] for r in log2.read(0, 10**6)] == held + [new]
        # without a stash a reopened batched log skips the numbers that may have waited in RAM
        assert log2.last_seq == (new if batch == 1 else new + batch)


def test_power_loss_at_every_byte_of_a_record():
    _power_loss_at_every_offset(1, b"")


def test_power_loss_with_erased_flash_after_the_cut():
    _power_loss_at_every_offset(1, b"\xff")


def test_power_loss_at_every_byte_of_a_batched_record():
    _power_loss_at_every_offset(4, b"")


def test_batched_readings_wait_in_stash_across_a_reset():
    d = tmpdir("dl")
    stash = Stash()
    log = Datalog(d, 16384, batch=4, stash=stash)
    for i in range(6):
        log.append(reading(i))
    log.ack(2)
    log.close()  # deep sleep: four readings in one record on flash, two in RTC memory
    assert log.records_written == 1
    log = Datalog(d, 16384, batch=4, stash=stash)
    assert log.last_seq == 6 and log.acked_seq == 2 and log.skipped_seqs == 0
    assert [r["seq"] for r in log.read(1, 10)] == [1, 2, 3, 4, 5, 6]
    assert log.append(reading(6)) == 7


def test_lost_stash_skips_the_waiting_sequence_numbers():
    d = tmpdir("dl")
    log = Datalog(d, 16384, batch=4, stash=Stash())
    for i in range(6):
        log.append(reading(i))
    assert log.waiting_seqs == [5, 6]
    log = Datalog(d, 16384, batch=4, stash=Stash())  # power loss: RTC memory is empty
    assert [r["seq"] for r in log.read(1, 10)] == [1, 2, 3, 4]
    assert log.skipped_seqs == 4 and log.append(reading(6)) == 9


def test_batching_writes_fewer_bytes_per_reading():
    a = Datalog(tmpdir("dl"), 65536)
    b = Datalog(tmpdir("dl"), 65536, batch=8, stash=Stash())
    for i in range(64):
        a.append(reading(i))
        b.append(reading(i))
    assert b.bytes_written < a.bytes_written
    assert b.records_written == 8 and a.records_written == 64


def test_log_directory_is_created_with_its_parents():
    d = tmpdir("mkp") + "/data/log"
    log = Datalog(d, 4096)
    log.append({"t": 1763800000, "pm2_5": 1.0})
    log.flush()
    again = Datalog(d, 4096)
    assert again.last_seq == 1
