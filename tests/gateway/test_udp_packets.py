"""Each packet type, byte-exact, on a real loopback socket against a scripted packet forwarder."""

import base64
import json
import threading
import time

import pytest

from gateway.metrics import Metrics
from gateway.udp.pull_resp import TxPacket
from gateway.udp.server import PacketForwarderServer
from tests.gateway.pf import Forwarder, rxpk

EUI = "aa555a0000000101"


class Running:
    """The real server on 127.0.0.1:<free port>, pumped by a thread; received rxpk and TX_ACKs collected."""

    def __init__(self):
        self.metrics = Metrics()
        self.rx = []
        self.acks = []
        self.server = PacketForwarderServer(
            ("127.0.0.1", 0), self.metrics, lambda eui, rx, mono, now: self.rx.append((eui, rx)),
            lambda ack, mono: self.acks.append(ack),
        )  # fmt: skip
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        import select

        while not self._stop.is_set():
            r, _, _ = select.select([self.server.fileno()], [], [], 0.05)
            if r:
                self.server.pump()

    def wait(self, counter, n, timeout=5.0):
        end = time.monotonic() + timeout
        while self.metrics.get(counter) < n and time.monotonic() < end:
            time.sleep(0.005)
        return self.metrics.get(counter)

    def close(self):
        self._stop.set()
        self._t.join()
        self.server.close()


@pytest.fixture
def srv():
    s = Running()
    yield s
    s.close()


@pytest.fixture
def fwd(srv):
    f = Forwarder(srv.server.address, EUI)
    yield f
    f.close()


@pytest.mark.parametrize("version", [1, 2])
def test_push_data_gets_push_ack_with_echoed_token(srv, version):
    f = Forwarder(srv.server.address, EUI, version)
    phy = bytes.fromhex("40F17DBE4900020001954378762B11FF0D")
    stat = {"time": "2026-11-22 03:00:00 GMT", "rxnb": 2, "rxok": 2, "ackr": 100.0, "dwnb": 0, "txnb": 0}
    f.send(bytes((version,)) + b"\xab\xcd\x00" + bytes.fromhex(EUI) + json.dumps(
        {"rxpk": [rxpk(phy, tmst=123), rxpk(phy, tmst=456, rssi=-100)], "stat": stat}).encode())  # fmt: skip
    assert f.recv() == bytes((version,)) + b"\xab\xcd\x01"
    assert srv.wait("push_data", 1) == 1
    assert [(e, r.tmst, r.phy) for e, r in srv.rx] == [(EUI, 123, phy), (EUI, 456, phy)]
    r = srv.rx[0][1]
    assert (r.freq_hz, r.datr, r.rssi, r.snr, r.sf, r.crc_status) == (868100000, "SF7BW125", -60.0, 7.5, 7, 1)
    assert srv.server.concentrators[EUI].stat == stat
    f.close()


def test_pull_data_gets_pull_ack_and_opens_the_downlink_route(srv, fwd):
    assert fwd.pull(b"\x01\x02") == b"\x02\x01\x02\x04"
    assert srv.wait("pull_data", 1) == 1
    phy = bytes.fromhex("60040302010000000a0102")
    token = srv.server.send_downlink(EUI, TxPacket(4_000_000, 868_300_000, "SF9BW125", phy, 14))
    assert token is not None
    data = fwd.recv()
    assert data[:4] == b"\x02" + token + b"\x03"
    txpk = json.loads(data[4:])["txpk"]
    assert txpk == {
        "imme": False, "tmst": 4000000, "freq": 868.3, "rfch": 0, "powe": 14, "modu": "LORA",
        "datr": "SF9BW125", "codr": "4/5", "ipol": True, "size": len(phy),
        "data": base64.b64encode(phy).decode(), "ncrc": True,
    }  # fmt: skip


def test_pull_resp_follows_the_forwarder_version(srv):
    f = Forwarder(srv.server.address, EUI, version=1)
    assert f.pull(b"\x00\x07") == b"\x01\x00\x07\x04"
    srv.wait("pull_data", 1)
    token = srv.server.send_downlink(EUI, TxPacket(1, 869_525_000, "SF12BW125", b"\x60" + bytes(11)))
    assert f.recv()[:4] == b"\x01" + token + b"\x03"
    f.close()


def test_no_route_without_pull_data(srv):
    assert srv.server.send_downlink("0102030405060708", TxPacket(1, 868_100_000, "SF7BW125", b"x")) is None


@pytest.mark.parametrize(
    "body,error",
    [(b"", "NONE"), (b'{"txpk_ack":{"error":"NONE"}}', "NONE"), (b'{"txpk_ack":{"error":"TOO_LATE"}}', "TOO_LATE"),
     (b'{"txpk_ack":{"warn":"TX_POWER"}}', "NONE"), (b"\x00", "NONE")],
)  # fmt: skip
def test_tx_ack_is_parsed_and_not_answered(srv, fwd, body, error):
    fwd.pull()  # TX_ACK is taken only from the address of the concentrator's PULL_DATA
    fwd.send(b"\x02\x55\x66\x05" + bytes.fromhex(EUI) + body)
    assert srv.wait("tx_ack", 1) == 1
    assert fwd.nothing(0.2)
    assert [(a.header.token, a.error, a.gateway_eui) for a in srv.acks] == [(b"\x55\x66", error, EUI)]


MALFORMED = [
    (b"", "bad_header"),
    (b"\x02\x00", "bad_header"),
    (b"\x03\x00\x00\x00" + bytes(8), "bad_version"),
    (b"\x02\x00\x00\x09", "unknown_type"),
    (b"\x02\x00\x00\x01", "unknown_type"),  # PUSH_ACK goes to forwarders, not to us
    (b"\x02\x00\x00\x03{}", "unknown_type"),  # PULL_RESP likewise
    (b"\x02\x00\x00\x00\x01\x02", "wrong_size"),  # PUSH_DATA without a full EUI
    (b"\x02\x00\x00\x00" + bytes(8), "wrong_size"),  # PUSH_DATA without JSON
    (b"\x02\x00\x00\x02" + bytes(9), "wrong_size"),  # PULL_DATA with a trailing byte
    (b"\x02\x00\x00\x00" + bytes(8) + b"{not json", "bad_json"),
    (b"\x02\x00\x00\x00" + bytes(8) + b"\xff\xfe", "bad_json"),
    (b"\x02\x00\x00\x00" + bytes(8) + b"[1,2]", "bad_json"),
    (b"\x02\x00\x00\x00" + bytes(8) + b'{"rxpk": 5}', "bad_field"),
    (b"\x02\x00\x00\x05" + bytes(8) + b"{oops", "bad_json"),
]


def test_malformed_datagrams_are_counted_per_kind_and_good_traffic_continues(srv, fwd):
    for data, _ in MALFORMED:
        fwd.send(data)
    assert srv.wait("malformed_datagrams", len(MALFORMED)) == len(MALFORMED)
    kinds: dict[str, int] = {}
    for _, kind in MALFORMED:
        kinds[kind] = kinds.get(kind, 0) + 1
    for kind, n in kinds.items():
        assert srv.metrics.get("malformed." + kind) == n, kind
    # PUSH_DATA with a valid header and EUI is acknowledged before its JSON is read (5 of them)
    assert [a[3] for a in fwd.drain()] == [1] * 5
    # a good PUSH_DATA right after still goes through
    fwd.push([rxpk(b"\x40" + bytes(12))])
    assert srv.wait("push_data", 1) == 1 and len(srv.rx) == 1


def test_bad_rxpk_does_not_drop_its_good_neighbours(srv, fwd):
    good = rxpk(b"\x40" + bytes(12))
    bad_b64 = dict(good, data="!!!!")
    bad_size = dict(good, size=99)
    no_data = {k: v for k, v in good.items() if k != "data"}
    bad_tmst = dict(good, tmst=-1)
    fwd.push([bad_b64, good, bad_size, no_data, bad_tmst, "x", good])
    assert srv.wait("bad_rxpk", 5) == 5
    assert len(srv.rx) == 2
    assert srv.metrics.get("bad_rxpk.bad_base64") == 2 and srv.metrics.get("bad_rxpk.bad_field") == 3
    assert srv.metrics.get("malformed_datagrams") == 0


def test_a_lora_rxpk_with_a_datr_that_is_no_lora_data_rate_is_refused(srv, fwd):
    # found by the fuzz test: "SF7BW1w5" passed and later crashed the downlink planner
    good = rxpk(b"\x40" + bytes(12))
    bad = [dict(good, datr=d) for d in ("SF7BW1w5", "SF7BW125x", "SF13BW125", "SF7BW100", "SF²BW125", "SF7", 7)]
    fwd.push(bad + [good, dict(good, datr="SF12BW500")])
    assert srv.wait("bad_rxpk", len(bad)) == len(bad)
    assert srv.metrics.get("bad_rxpk.bad_field") == len(bad)
    assert [(r.sf, r.bw_hz) for _, r in srv.rx] == [(7, 125000), (12, 500000)]


def test_unpadded_base64_is_accepted(srv, fwd):
    phy = bytes(range(13))
    fwd.push([dict(rxpk(phy), data=base64.b64encode(phy).decode().rstrip("="))])
    srv.wait("push_data", 1)
    assert srv.rx[0][1].phy == phy
