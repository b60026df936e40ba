"""Structured mutations of valid PUSH_DATA datagrams, for the fuzz test in the suite and the bench run.

Two classes, so that the counters can be checked exactly:

- *structured*: a valid JSON object {"rxpk": [...], "stat": {...}} whose rxpk fields are mutated
  (numbers at NaN, ±Infinity, 1e39, huge integers, wrong types, fields removed, odd strings,
  absurd times, unknown keys) and whose stat is mutated likewise. The datagram is accepted as
  push_data and each of its rxpk lands in bad_rxpk or in exactly one ingest outcome.
- *envelope*: a valid datagram made malformed as a whole (nesting past the cap, truncated JSON,
  trailing bytes, invalid UTF-8): it counts once in malformed_datagrams.

Seeded `random.Random`: a failure names the seed and case number that reproduce it.
"""

from __future__ import annotations

import json
import random

from gateway.udp.header import PUSH_DATA, build_header
from tests.gateway.harness import uplink
from tests.gateway.pf import rxpk

NUMBERS = ("tmst", "freq", "stat", "rssi", "lsnr", "rfch", "size", "chan")
STRINGS = ("modu", "datr", "codr", "data", "time")
ODD_NUMBERS = (float("nan"), float("inf"), float("-inf"), 1e39, -1e39, 1e308, 2**64, -(2**63), 10**30, 0, -1, 1.5,
               4294967296, True, False, None, "1", [], {}, [1, 2])  # fmt: skip
ODD_STRINGS = ("", "x" * 1000, "\n", "\x00\x1b[31m", "LORA\n", "SF7BW125\r\nX", "SF99BW125", "é" * 50, 42, None,
               "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2200-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
               "2026-13-45T99:99:99Z", "AAAA", "====", "QUJD" * 100)  # fmt: skip
STAT_FIELDS = ("time", "lati", "long", "alti", "rxnb", "rxok", "rxfw", "ackr", "dwnb", "txnb", "temp")


class Generator:
    def __init__(self, seed: int, dev_addr: str, eui: str) -> None:
        self.rng = random.Random(seed)
        self.dev_addr = dev_addr
        self.eui = eui
        self.fcnt = 0

    def _frame(self) -> bytes:
        r = self.rng
        if r.random() < 0.2:
            return r.randbytes(r.randint(0, 64))
        self.fcnt += 1
        reading = {"seq": self.fcnt, "t": 1763800000 + self.fcnt, "pm2_5": 1.5, "laeq": 40.0}
        return uplink(self.dev_addr, self.fcnt, reading, fopts=b"\x02" if r.random() < 0.3 else b"")

    def _rxpk(self) -> dict:
        r = self.rng
        pk = rxpk(self._frame())
        for _ in range(r.choice((0, 1, 1, 2, 3))):
            what = r.random()
            if what < 0.45:
                pk[r.choice(NUMBERS)] = r.choice(ODD_NUMBERS)
            elif what < 0.75:
                pk[r.choice(STRINGS)] = r.choice(ODD_STRINGS)
            elif what < 0.9:
                pk.pop(r.choice(NUMBERS + STRINGS), None)
            else:
                pk["k%d" % r.randint(0, 99)] = r.choice(ODD_NUMBERS + ODD_STRINGS)
        return pk

    def _stat(self) -> dict:
        r = self.rng
        stat: dict = {"rxnb": 1, "rxok": 1, "time": "2026-12-04 05:00:00 GMT"}
        for _ in range(r.randint(0, 4)):
            stat[r.choice(STAT_FIELDS)] = r.choice(ODD_NUMBERS + ODD_STRINGS)
        return stat

    def structured(self) -> tuple[bytes, int]:
        """A datagram taken as push_data, and how many rxpk it carries."""
        r = self.rng
        body: dict = {"rxpk": [self._rxpk() for _ in range(r.randint(0, 8))]}
        if r.random() < 0.5:
            body["stat"] = self._stat()
        data = json.dumps(body, separators=(",", ":")).encode()  # writes NaN and Infinity, as Python reads them
        return self._header() + data, len(body["rxpk"])

    def envelope(self) -> bytes:
        """A datagram malformed as a whole."""
        r = self.rng
        body = json.dumps({"rxpk": [self._rxpk()]}, separators=(",", ":")).encode()
        what = r.randint(0, 3)
        if what == 0:
            depth = r.choice((9, 50, 950, 20000))
            body = b'{"rxpk":[],"stat":{"x":' + b"[" * depth + b"]" * depth + b"}}"
        elif what == 1:
            body = body[: r.randint(0, len(body) - 1)]
        elif what == 2:
            body = body + r.choice((b"x", b"{}", b"\x00", b"]"))
        else:
            i = r.randint(0, len(body) - 1)
            body = body[:i] + b"\xff\xfe" + body[i:]
        return self._header() + body

    def _header(self) -> bytes:
        r = self.rng
        return build_header(r.choice((1, 2)), r.randbytes(2), PUSH_DATA) + bytes.fromhex(self.eui)


def drive(agent, forwarder, gen: Generator, n: int, envelope_share: float = 0.1) -> dict[str, int]:
    """Send n datagrams (paced so the socket buffer never drops one), wait until the agent has
    handled them and committed what it accepted; returns what was sent, by class."""
    sent = {"datagrams": 0, "structured": 0, "envelope": 0, "rxpk": 0}
    m = agent.metrics
    base = m.get("datagrams_received")
    for i in range(n):
        if gen.rng.random() < envelope_share:
            forwarder.send(gen.envelope())
            sent["envelope"] += 1
        else:
            data, k = gen.structured()
            forwarder.send(data)
            sent["structured"] += 1
            sent["rxpk"] += k
        sent["datagrams"] += 1
        if i % 64 == 63:
            agent.wait("datagrams_received", base + i + 1, timeout=10)
            forwarder.drain(0.0)  # the PUSH_ACKs
    agent.wait("datagrams_received", base + n, timeout=20)
    agent.wait("received_uplinks", m.get("accepted_uplinks"), timeout=10)
    forwarder.drain(0.0)
    return sent
