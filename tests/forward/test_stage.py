"""Staged readings (gateway.store.stage): offered to the forwarder before their commit, written only
when the broker has not taken them by then, and never out of both the disk and the broker."""

import pytest

from gateway.store.buffer import ReadingBuffer
from tests.forward.test_buffer import DEV_A, DEV_B, reading, stored_values, uplink


@pytest.fixture
def buf(tmp_path):
    b = ReadingBuffer(tmp_path / "buffer.sqlite", reserve_bytes=0)
    yield b
    b.close()


def rows_on_disk(buf):
    return buf._conn().execute("SELECT count(*) FROM reading").fetchone()[0]


def test_acknowledged_before_the_commit_is_never_written(buf):
    r = reading(seq=1)
    token = buf.stage(DEV_A, 1763800000.2, [r])
    delivered = []
    buf.on_delivered = lambda: delivered.append(1)
    claim = buf.claim(100)
    assert claim.ids == [token] and token < 0 and claim.live_rows == 1
    assert claim.rows[0].readings == [(1, r.t, r.values)]
    assert buf.claim(100) is None  # in flight: not offered twice
    buf.ack(claim.ids)
    assert delivered == [1] and buf.take_delivered() == [token] and buf.take_delivered() == []
    buf.commit_uplinks([(uplink(), [r])], [token])
    assert rows_on_disk(buf) == 0 and buf.stats().staged_readings == 0


def test_committed_while_waiting_becomes_a_pending_row(buf):
    token = buf.stage(DEV_A, 1763800000.2, [reading(seq=1)])
    buf.commit_uplinks([(uplink(), [reading(seq=1)])], [token])
    assert rows_on_disk(buf) == 1 and buf.stats().staged_readings == 0
    claim = buf.claim(100)
    assert claim.ids[0] > 0  # the row, not the token: offered once
    assert buf.claim(100) is None


def test_committed_in_flight_then_acknowledged_deletes_the_row(buf):
    token = buf.stage(DEV_A, 1763800000.2, [reading(seq=1)])
    claim = buf.claim(100)
    buf.commit_uplinks([(uplink(), [reading(seq=1)])], [token])
    assert rows_on_disk(buf) == 1
    assert buf.claim(100) is None  # the row is in flight under the token's batch
    buf.ack(claim.ids)
    assert buf.take_delivered() == []  # it was written: the commit already counted it
    buf.flush()
    assert rows_on_disk(buf) == 0 and buf.stats().pending_readings == 0


def test_committed_in_flight_then_refused_is_sent_again_from_disk(buf):
    token = buf.stage(DEV_A, 1763800000.2, [reading(seq=1)])
    claim = buf.claim(100)
    buf.commit_uplinks([(uplink(), [reading(seq=1)])], [token])
    buf.release(claim.ids)
    again = buf.claim(100)
    assert again is not None and again.ids[0] > 0 and again.rows[0].readings[0][0] == 1
    assert rows_on_disk(buf) == 1


def test_refused_while_staged_waits_again_and_goes_first(buf):
    buf.commit_uplinks([(uplink(dev=DEV_B, fcnt=9), [reading(dev=DEV_B, seq=9)])])
    token = buf.stage(DEV_A, 1763800000.2, [reading(seq=1)])
    first = buf.claim(1)
    assert first.ids == [token]
    buf.release(first.ids)
    assert buf.claim(1).ids == [token]  # live first, again


def test_mixed_commit_writes_only_what_the_broker_does_not_have(buf):
    tokens = [buf.stage(DEV_A, 1763800000.2, [reading(seq=i)]) for i in range(1, 4)]
    claim = buf.claim(1)  # takes the first only
    buf.ack(claim.ids)
    buf.commit_uplinks([(uplink(fcnt=i), [reading(seq=i)]) for i in range(1, 4)], tokens)
    assert sorted(x[1] for x in stored_values(buf)) == [2, 3]


def test_discard_forgets_a_refused_item(buf):
    token = buf.stage(DEV_A, 1763800000.2, [reading(seq=1)])
    buf.discard(token)
    assert buf.claim(100) is None and buf.stats().staged_readings == 0
