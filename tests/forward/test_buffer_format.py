"""The buffer's row format: the compact uplink record, and files of the previous format read back,
upgraded, and forwarded."""

import sqlite3

from gateway.store import codec
from gateway.store.buffer import ReadingBuffer
from gateway.store.records import Reading, Uplink
from gateway.store.recover import open_buffer
from gateway.store.schema import SCHEMA_VERSION

DEV = "70b3d57ed0000001"


def frame(dev_addr="26011f2a", fopts=b"", fport=2, payload=b"\x01\x02\x03\x04\x05\x06\x07\x08"):
    """An unconfirmed data uplink's PHYPayload: MHDR, DevAddr (LSB first), FCtrl, FCnt, FOpts, FPort, payload, MIC."""
    fhdr = bytes.fromhex(dev_addr)[::-1] + bytes((len(fopts),)) + b"\x07\x00" + fopts
    port = b"" if fport is None else bytes((fport,))
    return b"\x40" + fhdr + port + payload + b"\xaa\xbb\xcc\xdd"


def uplink(fcnt=7, phy=None, dev_addr="26011f2a", fport=2, datr="SF9BW125", rx=1763800000.125, snr=7.25):
    return Uplink(DEV, dev_addr, fcnt, fport, frame() if phy is None else phy, rx, "b827ebfffe000001",
                  -97.0, snr, 868100000, datr)  # fmt: skip


def reading(seq=1):
    return Reading(DEV, seq, 1763799990, {"pm2_5": 12.3, "temperature": 21.37})


def test_an_uplink_whose_frame_says_its_address_and_port_costs_23_bytes_beside_its_phypayload():
    u = uplink()
    blob = codec.encode_uplink(u)
    assert len(blob) == 23 + len(u.phy)  # format 1 took 46
    assert codec.decode_uplink(DEV, 1763800000, blob) == u


def test_what_the_frame_does_not_say_is_kept_as_given():
    cases = [
        uplink(dev_addr="01020304"),  # another address than the frame's
        uplink(fport=0),  # the frame has FPort 2
        uplink(phy=frame(fport=None, payload=b"")),  # no FPort: 0 either way
        uplink(phy=frame(fopts=b"\x02\x03"), fport=2),  # FOpts before the port
        uplink(phy=b"\x40\x01"),  # too short to be a frame
        uplink(datr="SF12BW500"),
        uplink(datr="50000"),  # FSK: no code, kept as text
        uplink(rx=1763800000.9996),  # rounds to the next second's 0 ms: kept at 999 ms
        uplink(snr=-12.75),
    ]
    for u in cases:
        back = codec.decode_uplink(DEV, int(u.received_at), codec.encode_uplink(u))
        assert back.received_at == min(u.received_at, int(u.received_at) + 0.999)
        assert back == u._replace(received_at=back.received_at), u


def _v1_file(path, rows):
    """A buffer file as the previous format wrote it: rows of (id, dev_eui, rx, n, data, meta)."""
    buf = ReadingBuffer(path)
    buf.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA user_version=1")
    db.execute("INSERT INTO device (id, eui) VALUES (1, ?)", (DEV,))
    db.executemany("INSERT INTO reading (id, dev, rx, n, data, meta) VALUES (?,1,?,?,?,?)",
                   [(i, rx, n, data, meta) for i, _, rx, n, data, meta in rows])  # fmt: skip
    db.close()


def _uplink_rows(count):
    out = []
    for i in range(1, count + 1):
        u = uplink(fcnt=i, rx=1763800000 + i + 0.5, phy=frame())
        rx = int(u.received_at)
        out.append((i, DEV, rx, 1, codec.encode_readings(rx, [reading(seq=i)]), codec.encode_uplink(u, 1)))
    return out


def test_a_file_of_the_previous_format_is_upgraded_and_its_readings_forwarded(tmp_path):
    path = str(tmp_path / "b.db")
    local = (51, DEV, 1763800100, 1, codec.encode_readings(1763800100, [reading(51)]), None)
    _v1_file(path, _uplink_rows(50) + [local])
    buf = ReadingBuffer(path)
    assert buf._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert buf.uplink_of(3) == uplink(fcnt=3, rx=1763800003.5)
    assert buf.uplink_of(51) is None
    assert [u.fcnt for u in buf.newest_uplinks()] == [50]
    buf.commit_uplinks([(uplink(fcnt=99), [reading(99)])])
    claim = buf.claim(1000)
    assert claim is not None and [r.readings[0][0] for r in claim.rows] == [99, *range(1, 52)]  # live first
    assert claim.rows[1].readings[0] == (1, 1763799990, {"pm2_5": 12.3, "temperature": 21.37})
    buf.ack(claim.ids)
    buf.close()
    buf = ReadingBuffer(path)
    assert buf.claim(1000) is None
    buf.close()


def test_a_file_that_cannot_be_upgraded_keeps_its_format_for_old_and_new_rows(tmp_path):
    path = str(tmp_path / "b.db")
    rows = _uplink_rows(3)
    rows[1] = rows[1][:5] + (b"\x00" * 5,)  # an uplink record format 1 cannot read: the upgrade stops
    _v1_file(path, rows)
    buf = ReadingBuffer(path)
    assert buf._conn().execute("PRAGMA user_version").fetchone()[0] == 1
    assert buf.uplink_of(1) == uplink(fcnt=1, rx=1763800001.5)
    buf.commit_uplinks([(uplink(fcnt=4, rx=1763800004.5), [reading(4)])])
    buf.close()
    buf = ReadingBuffer(path)
    assert buf.uplink_of(4) == uplink(fcnt=4, rx=1763800004.5)
    assert [r.readings[0][0] for r in buf.claim(100).rows] == [1, 2, 3, 4]
    buf.close()


def test_rows_salvaged_from_a_damaged_file_of_the_previous_format_are_upgraded(tmp_path):
    path = str(tmp_path / "b.db")
    _v1_file(path, _uplink_rows(2000))
    with open(path, "r+b") as f:
        page = int.from_bytes(f.read(100)[16:18], "big")
        f.seek(300 * page)
        f.write(b"\xff" * page)
    buf, rec = open_buffer(path)
    assert rec is not None and 1900 <= rec.salvaged_rows < 2000
    ups = [buf.uplink_of(r.id) for r in buf.claim(5000).rows]
    assert all(u is not None and u == uplink(fcnt=u.fcnt, rx=u.fcnt + 1763800000.5) for u in ups)
    buf.close()
