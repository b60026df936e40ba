"""A virtual concentrator: speaks the Semtech UDP packet-forwarder protocol (v2) to the real gateway agent.

It plays the part of lora_pkt_fwd on an SX1302 board, over a real UDP socket on loopback:

- uplinks the radio model received become ``rxpk`` objects, several per PUSH_DATA; each PUSH_DATA
  waits for its PUSH_ACK (the forwarder never retries: an unacknowledged datagram is counted);
- PULL_DATA keep-alives tell the agent where to send downlinks;
- a PULL_RESP (``txpk``) is checked, answered with TX_ACK (``txpk_ack.error`` NONE, TOO_LATE,
  TOO_EARLY, TX_FREQ, TX_POWER) and scheduled at its ``tmst``; the runner collects due downlinks with
  ``due_downlinks()`` and hands them to the radio and the node's RX window;
- ``stat`` objects report the counters like the real forwarder.

Header: ``version(1) token(2) id(1)`` then, for PUSH_DATA, PULL_DATA and TX_ACK, the 8-byte gateway
EUI. ``tmst`` is the concentrator's free-running 32-bit microsecond counter: here the virtual time
plus a per-concentrator offset, so it wraps like the real one. ``time`` is the virtual UTC time of
reception (as a GPS-synchronised concentrator reports it).

Malformed datagrams from the agent raise nothing: each is counted by kind in ``malformed`` and kept
in ``last_error``; good traffic carries on.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from edge import lora

PROTOCOL_VERSION = 2
PUSH_DATA, PUSH_ACK, PULL_DATA, PULL_RESP, PULL_ACK, TX_ACK = 0, 1, 2, 3, 4, 5
_TMST_MOD = 1 << 32
TX_MAX_ADVANCE_US = 10_000_000  # a txpk further ahead than this is refused TOO_EARLY
TX_POWER_MAX_DBM = 27
# The packet SNR a LoRa receiver reports: a signed byte in 0.25 dB steps (SX1276 datasheet, RegPktSnrValue),
# so a node beside the concentrator reads +31.75 dB, never the 70 dB its path loss would give
LSNR_MIN_DB, LSNR_MAX_DB = -32.0, 31.75
MIN_SF = 7  # the radio model's SX1301-class concentrator: SF7..SF12 (no SF5/SF6 of the SX1302)


def _sf(datr: object) -> int:
    """The spreading factor of a LoRa datr, 0 when it is none."""
    try:
        return lora.parse_datr(datr)[0]
    except lora.RadioError:
        return 0


class ProtocolError(ValueError):
    """A datagram that does not follow the packet-forwarder protocol; .kind names the problem."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__("%s: %s" % (kind, detail))
        self.kind = kind


@dataclass
class Downlink:
    concentrator: str
    at_us: int  # virtual time of emission
    freq_hz: int
    sf: int
    phy: bytes
    immediate: bool = False


@dataclass
class Counters:
    rxnb: int = 0  # frames received by the radio
    rxok: int = 0  # with a valid CRC (all, here)
    rxfw: int = 0  # forwarded in PUSH_DATA
    push_sent: int = 0
    push_acked: int = 0
    pull_sent: int = 0
    pull_acked: int = 0
    dwnb: int = 0  # PULL_RESP received
    txnb: int = 0  # downlinks emitted
    tx_refused: dict[str, int] = field(default_factory=dict)


def rfc3339(unix_us: int) -> str:
    dt = datetime.fromtimestamp(unix_us // 1_000_000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (unix_us % 1_000_000)


def parse_header(data: bytes) -> tuple[int, int, int]:
    """(version, token, id) of a datagram; ProtocolError if it cannot be one."""
    if len(data) < 4:
        raise ProtocolError("short", "%d bytes, a header needs 4" % len(data))
    version, token, ident = data[0], struct.unpack_from(">H", data, 1)[0], data[3]
    if version not in (1, 2):
        raise ProtocolError("version", "protocol version %d" % version)
    if ident > TX_ACK:
        raise ProtocolError("unknown_id", "identifier 0x%02x" % ident)
    return version, token, ident


def parse_txpk(body: bytes) -> dict:
    """The txpk object of a PULL_RESP body, checked field by field."""
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProtocolError("bad_json", str(e)) from None
    txpk = obj.get("txpk") if isinstance(obj, dict) else None
    if not isinstance(txpk, dict):
        raise ProtocolError("bad_txpk", "no txpk object")
    if txpk.get("modu") != "LORA" or _sf(txpk.get("datr")) < MIN_SF:
        raise ProtocolError("bad_txpk", "modu must be LORA and datr like SF9BW125")
    if not isinstance(txpk.get("freq"), int | float) or not isinstance(txpk.get("data"), str):
        raise ProtocolError("bad_txpk", "freq (MHz) and data (base64) are required")
    if not txpk.get("imme") and (not isinstance(txpk.get("tmst"), int) or not 0 <= txpk["tmst"] < _TMST_MOD):
        raise ProtocolError("bad_txpk", "tmst must be a 32-bit integer unless imme is true")
    try:
        phy = base64.b64decode(txpk["data"], validate=True)
    except (binascii.Error, ValueError) as e:
        raise ProtocolError("bad_txpk", "data is not base64: %s" % e) from None
    if "size" in txpk and txpk["size"] != len(phy):
        raise ProtocolError("bad_txpk", "size %r but data holds %d bytes" % (txpk["size"], len(phy)))
    txpk["_phy"] = phy
    return txpk


class Concentrator:
    """One virtual SX1302 concentrator and its packet forwarder, talking UDP to the agent at `server`."""

    def __init__(
        self,
        name: str,
        eui: str,
        server: tuple[str, int],
        now_us: Callable[[], int],
        start_unix: int,
        seed: int = 0,
        ack_timeout_s: float = 1.0,
    ) -> None:
        self.name = name
        self.eui = bytes.fromhex(eui)
        self.server = server
        self._now_us = now_us
        self._start_unix_us = start_unix * 1_000_000
        self._tmst_offset = random.Random("%d:tmst:%s" % (seed, eui)).randrange(_TMST_MOD)
        self._rng = random.Random("%d:token:%s" % (seed, eui))
        self.ack_timeout_s = ack_timeout_s
        self.counters = Counters()
        self.malformed: dict[str, int] = {}
        self.last_error = ""
        self._rxpk: list[dict] = []
        self._push_waiting: dict[int, float] = {}  # token -> wall time sent
        self._pull_waiting: dict[int, float] = {}
        self._push_expired: set[int] = set()  # PUSH_DATA tokens whose PUSH_ACK never came in time
        self._downlinks: list[Downlink] = []
        self.tx_acks: list[tuple[int, str]] = []  # (token, error) of every TX_ACK sent
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)

    def close(self) -> None:
        self.sock.close()

    # -- clocks

    def tmst(self, virtual_us: int | None = None) -> int:
        us = self._now_us() if virtual_us is None else virtual_us
        return (us + self._tmst_offset) % _TMST_MOD

    def virtual_us_of(self, tmst: int) -> int:
        """The virtual time a tmst refers to: the one nearest to now (the counter wraps every ~71 min)."""
        now = self._now_us()
        delta = (tmst - self.tmst(now)) % _TMST_MOD
        if delta >= _TMST_MOD // 2:
            delta -= _TMST_MOD
        return now + delta

    # -- uplink

    def _token(self) -> int:
        return self._rng.randrange(1 << 16)

    def receive(self, phy: bytes, freq_hz: int, sf: int, rssi: float, snr: float, end_us: int) -> None:
        """A frame the radio model delivered to this concentrator (timestamped at the end of reception)."""
        self.counters.rxnb += 1
        self.counters.rxok += 1
        self._rxpk.append(
            {
                "time": rfc3339(self._start_unix_us + end_us),
                "tmst": self.tmst(end_us),
                "freq": round(freq_hz / 1e6, 6),
                "chan": 0,
                "rfch": 0,
                "stat": 1,
                "modu": "LORA",
                "datr": lora.format_datr(sf, 125000),
                "codr": "4/5",
                "rssi": int(round(rssi)),
                "lsnr": round(max(LSNR_MIN_DB, min(LSNR_MAX_DB, snr)), 1),
                "size": len(phy),
                "data": base64.b64encode(phy).decode("ascii"),
            }
        )

    def push_data(self, stat: bool = False, max_rxpk: int = 64) -> list[int]:
        """Send the received frames (and a stat object if asked) as PUSH_DATA datagrams; their tokens."""
        tokens = []
        while self._rxpk or stat:
            body: dict = {}
            if self._rxpk:
                body["rxpk"], self._rxpk = self._rxpk[:max_rxpk], self._rxpk[max_rxpk:]
                self.counters.rxfw += len(body["rxpk"])
            if stat:
                body["stat"] = self._stat()
                stat = False
            tokens.append(self._send(PUSH_DATA, json.dumps(body, separators=(",", ":")).encode()))
        return tokens

    def _stat(self) -> dict:
        c = self.counters
        unix = (self._start_unix_us + self._now_us()) // 1_000_000
        ackr = 100.0 * c.push_acked / c.push_sent if c.push_sent else 100.0
        return {
            "time": datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S GMT"),
            "rxnb": c.rxnb,
            "rxok": c.rxok,
            "rxfw": c.rxfw,
            "ackr": round(ackr, 1),
            "dwnb": c.dwnb,
            "txnb": c.txnb,
        }

    def pull_data(self) -> int:
        """A keep-alive that (re)opens the downlink path."""
        return self._send(PULL_DATA, b"")

    def _send(self, ident: int, body: bytes) -> int:
        token = self._token()
        header = struct.pack(">BHB", PROTOCOL_VERSION, token, ident)
        data = header + (self.eui if ident in (PUSH_DATA, PULL_DATA, TX_ACK) else b"") + body
        self.sock.sendto(data, self.server)
        now = time.monotonic()
        if ident == PUSH_DATA:
            self.counters.push_sent += 1
            self._push_waiting[token] = now
        elif ident == PULL_DATA:
            self.counters.pull_sent += 1
            self._pull_waiting[token] = now
        return token

    @property
    def unacked(self) -> int:
        """PUSH_DATA still waiting for their PUSH_ACK (within the timeout)."""
        return len(self._push_waiting)

    # -- incoming

    def poll(self, timeout_s: float = 0.0) -> int:
        """Handle every datagram that arrives within timeout_s (0: only those already queued); how many."""
        handled = 0
        deadline = time.monotonic() + timeout_s
        while True:
            wait = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], wait if handled == 0 else 0)
            if not ready:
                break
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, ConnectionRefusedError):
                break
            handled += 1
            try:
                self._handle(data)
            except ProtocolError as e:
                self.malformed[e.kind] = self.malformed.get(e.kind, 0) + 1
                self.last_error = str(e)
        self._expire()
        return handled

    def wait_acks(self, timeout_s: float) -> bool:
        """Poll until every PUSH_DATA is acknowledged or timeout_s passed; True when all were.

        A token that expires meanwhile was not acknowledged: it leaves the waiting set, but counts
        against the answer (a late or missing PUSH_ACK is not a delivery)."""
        deadline = time.monotonic() + timeout_s
        self._push_expired.clear()
        while self._push_waiting and time.monotonic() < deadline:
            self.poll(min(0.05, max(0.0, deadline - time.monotonic())))
        return not self._push_waiting and not self._push_expired

    def _expire(self) -> None:
        limit = time.monotonic() - self.ack_timeout_s
        for waiting in (self._push_waiting, self._pull_waiting):
            for token in [t for t, sent in waiting.items() if sent < limit]:
                del waiting[token]
                if waiting is self._push_waiting:
                    self._push_expired.add(token)

    def _handle(self, data: bytes) -> None:
        _, token, ident = parse_header(data)
        if ident in (PUSH_ACK, PULL_ACK):
            if len(data) != 4:
                raise ProtocolError("wrong_size", "an ACK is 4 bytes, got %d" % len(data))
            waiting = self._push_waiting if ident == PUSH_ACK else self._pull_waiting
            if waiting.pop(token, None) is None:
                raise ProtocolError("token_mismatch", "ACK for token 0x%04x that is not outstanding" % token)
            if ident == PUSH_ACK:
                self.counters.push_acked += 1
            else:
                self.counters.pull_acked += 1
        elif ident == PULL_RESP:
            self.counters.dwnb += 1
            txpk = parse_txpk(data[4:])
            self._tx_ack(token, self._schedule(txpk))
        else:
            raise ProtocolError("unexpected_id", "a concentrator does not receive id %d" % ident)

    def _schedule(self, txpk: dict) -> str:
        freq_hz = int(round(txpk["freq"] * 1e6))
        try:
            lora.eu868_subband(freq_hz)
        except lora.RadioError:
            return "TX_FREQ"
        if txpk.get("powe", 14) > TX_POWER_MAX_DBM:
            return "TX_POWER"
        sf = _sf(txpk["datr"])
        now = self._now_us()
        if txpk.get("imme"):
            at, immediate = now, True
        else:
            at, immediate = self.virtual_us_of(txpk["tmst"]), False
            if at < now:
                return "TOO_LATE"
            if at - now > TX_MAX_ADVANCE_US:
                return "TOO_EARLY"
        if any(abs(d.at_us - at) < 1000 for d in self._downlinks):
            return "COLLISION_PACKET"
        self._downlinks.append(Downlink(self.name, at, freq_hz, sf, txpk["_phy"], immediate))
        return "NONE"

    def _tx_ack(self, token: int, error: str) -> None:
        if error != "NONE":
            self.counters.tx_refused[error] = self.counters.tx_refused.get(error, 0) + 1
        body = json.dumps({"txpk_ack": {"error": error}}, separators=(",", ":")).encode()
        header = struct.pack(">BHB", PROTOCOL_VERSION, token, TX_ACK)
        self.sock.sendto(header + self.eui + body, self.server)
        self.tx_acks.append((token, error))

    def due_downlinks(self, now_us: int) -> list[Downlink]:
        """Downlinks whose emission time has come, in time order; they leave the queue."""
        due = sorted((d for d in self._downlinks if d.at_us <= now_us), key=lambda d: d.at_us)
        self._downlinks = [d for d in self._downlinks if d.at_us > now_us]
        self.counters.txnb += len(due)
        return due
