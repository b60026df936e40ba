"""The packet-forwarder server: one UDP socket, datagrams dispatched by type, answers to the sender.

- PUSH_DATA -> PUSH_ACK (as soon as the header and gateway EUI are valid; the forwarder never
  retries, so the ack only tells it the link is up), then each rxpk goes to `on_rx`, the `stat`
  object is recorded per concentrator.
- PULL_DATA -> PULL_ACK, and the datagram's source address becomes the concentrator's downlink
  address for PULL_RESP.
- TX_ACK -> `on_tx_ack` (errors are counted and logged by kind), only from the address the
  concentrator's PULL_DATA came from (the Semtech forwarder sends both on its downstream socket).
- Anything else is malformed: counted (total and per kind), logged once per kind with rate
  limiting, and dropped; it never stops the loop.

The concentrator table holds at most MAX_CONCENTRATORS entries, each forgotten CONCENTRATOR_TTL_S
after its last datagram; with `[udp] gateways` set, datagrams from other EUIs are refused
(malformed.unknown_gateway). A concentrator's `stat` is kept as a small summary (push_data).
An rxpk.time more than `[udp] rxpk_time_window_s` away from the agent's clock is dropped (the agent's clock
dates the packet) and counted in rxpk_time_ignored.

Every datagram lands in exactly one of: push_data, pull_data, tx_ack, malformed_datagrams,
internal_errors (a bug: the rest of the datagram is dropped, the agent goes on; the tests require
0). The last INTERNAL_SAMPLES datagrams that hit a bug are kept, with the error, in the
`internal_error_samples` gauge for diagnosis.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.metrics import Metrics
from gateway.ratelog import RateLimitedLog
from gateway.udp import header as hdr
from gateway.udp.errors import DatagramError, UnknownGateway, UnknownType
from gateway.udp.pull_data import build_pull_ack, parse_pull_data
from gateway.udp.pull_resp import TxPacket, build_pull_resp
from gateway.udp.push_data import build_push_ack, parse_push_data
from gateway.udp.rxpk import RxPacket
from gateway.udp.tx_ack import TxAck, parse_tx_ack

log = logging.getLogger("gateway.udp")

MAX_DATAGRAM = 65535
PULL_ROUTE_TTL_S = 60.0  # a forwarder sends PULL_DATA every ~10 s; older routes are stale
MAX_CONCENTRATORS = 256  # a district's gateways; entries of EUIs beyond it are not kept
CONCENTRATOR_TTL_S = 3600.0  # a forwarder sends PULL_DATA every ~10 s and stat every ~30 s
TIME_WINDOW_S = 86400.0  # an rxpk.time further than this from the agent's clock is no time at all
INTERNAL_SAMPLES = 8  # datagrams kept for diagnosis when handling them hit a bug
SAMPLE_BYTES = 2048  # of each, base64 in the gauge

RxHandler = Callable[[str, RxPacket, float, float], None]  # (gateway EUI, rxpk, monotonic, unix time)
TxAckHandler = Callable[[TxAck, float], None]


@dataclass
class Concentrator:
    eui: str
    version: int = 2
    pull_addr: Any = None
    pull_seen: float = 0.0  # monotonic time of the last PULL_DATA
    last_seen: float = 0.0  # unix time of the last datagram
    stat: dict[str, Any] = field(default_factory=dict)


class PacketForwarderServer:
    def __init__(
        self,
        bind: tuple[str, int],
        metrics: Metrics,
        on_rx: RxHandler,
        on_tx_ack: TxAckHandler | None = None,
        receive_buffer: int = 4 << 20,
        allowed: Iterable[str] = (),
        time_window_s: float = TIME_WINDOW_S,
    ) -> None:
        family = socket.AF_INET6 if ":" in bind[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.bind(bind)
        self.sock.setblocking(False)
        self.metrics = metrics
        self.on_rx = on_rx
        self.on_tx_ack = on_tx_ack
        self.concentrators: dict[str, Concentrator] = {}
        self.allowed = frozenset(e.lower() for e in allowed)  # empty: any EUI
        self.time_window_s = time_window_s  # 0: every rxpk.time is trusted
        self._ratelog = RateLimitedLog(log)
        self._samples: deque[dict[str, Any]] = deque(maxlen=INTERNAL_SAMPLES)

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()[:2]

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def pump(self, max_datagrams: int = 256) -> int:
        """Handle the datagrams waiting on the socket (at most max_datagrams); returns how many."""
        recv, handle = self.sock.recvfrom, self.handle
        n = 0
        while n < max_datagrams:
            try:
                data, addr = recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:  # e.g. ICMP port unreachable surfacing as ECONNREFUSED
                self._ratelog.warn("socket_error", str(e))
                continue
            n += 1
            handle(data, addr)
        return n

    def handle(self, data: bytes, addr: Any) -> None:
        m = self.metrics
        m.inc("datagrams_received")
        mono, now = time.monotonic(), time.time()
        try:
            h = hdr.parse_header(data)
            if h.ident == hdr.PUSH_DATA:
                self._push_data(data, h, addr, mono, now)
            elif h.ident == hdr.PULL_DATA:
                self._pull_data(data, h, addr, mono, now)
            elif h.ident == hdr.TX_ACK:
                self._tx_ack(data, h, addr, mono, now)
            else:
                raise UnknownType("%s is sent by a server, not by a packet forwarder" % hdr.NAMES[h.ident])
        except DatagramError as e:
            # A PUSH_DATA whose JSON is bad was already acknowledged: it still counts as malformed.
            m.inc("malformed_datagrams")
            m.inc("malformed." + e.kind)
            self._ratelog.warn("malformed." + e.kind, "from %s: %s" % (addr[0], e))
        except OSError as e:  # sendto failed (peer vanished): the datagram was still handled
            self._ratelog.warn("socket_error", str(e))
        except Exception as e:  # a bug must cost one datagram, not the agent; tests assert it stays 0
            m.inc("internal_errors")
            self._samples.append(
                {"at": now, "from": str(addr[0]), "error": "%s: %s" % (type(e).__name__, str(e)[:200]),
                 "datagram": base64.b64encode(data[:SAMPLE_BYTES]).decode(), "size": len(data)}
            )  # fmt: skip
            m.set("internal_error_samples", list(self._samples))
            if self._ratelog.warn("internal_error", "%s: %s" % (type(e).__name__, e)):
                log.exception("datagram from %s could not be handled", addr[0])

    def _push_data(self, data: bytes, h: hdr.Header, addr: Any, mono: float, now: float) -> None:
        """Acknowledge at once (the forwarder never retries), then hand each valid rxpk on."""
        m = self.metrics
        eui = self._check_eui(hdr.gateway_eui(data))
        self.sock.sendto(build_push_ack(h), addr)
        c = self._seen(eui, h.version, now)
        push = parse_push_data(data, h)
        m.inc("push_data")
        if push.stat is not None and c is not None:
            c.stat = push.stat
        for bad in push.bad_rxpk:
            m.inc("bad_rxpk")
            m.inc("bad_rxpk." + bad.kind)
            self._ratelog.warn("bad_rxpk." + bad.kind, "from %s: %s" % (eui, bad))
        for rx in push.rxpk:
            if rx.time_unix is not None and self.time_window_s and abs(rx.time_unix - now) > self.time_window_s:
                m.inc("rxpk_time_ignored")
                self._ratelog.warn("rxpk_time", "from %s: rxpk.time %.0f s off the agent's clock, not used"
                                   % (eui, rx.time_unix - now))  # fmt: skip
                rx = rx._replace(time_unix=None)
            self.on_rx(eui, rx, mono, now)

    def _pull_data(self, data: bytes, h: hdr.Header, addr: Any, mono: float, now: float) -> None:
        """Remember where the concentrator listens for PULL_RESP, and acknowledge."""
        pull = parse_pull_data(data, h)
        c = self._seen(self._check_eui(pull.gateway_eui), h.version, now)
        if c is not None:
            c.pull_addr, c.pull_seen = addr, mono
        self.sock.sendto(build_pull_ack(h), addr)
        self.metrics.inc("pull_data")

    def _tx_ack(self, data: bytes, h: hdr.Header, addr: Any, mono: float, now: float) -> None:
        """A downlink's fate, taken only from the address the concentrator's PULL_DATA came from."""
        ack = parse_tx_ack(data, h)
        c = self.concentrators.get(ack.gateway_eui)
        if c is None or c.pull_addr != addr:
            raise UnknownGateway("TX_ACK of %s from an address its PULL_DATA did not come from" % ack.gateway_eui)
        self._seen(ack.gateway_eui, h.version, now)
        self.metrics.inc("tx_ack")
        if not ack.ok:
            self._ratelog.warn("tx_ack." + ack.error, "concentrator %s refused a downlink" % ack.gateway_eui)
        if self.on_tx_ack is not None:
            self.on_tx_ack(ack, mono)

    def _check_eui(self, eui: str) -> str:
        if self.allowed and eui not in self.allowed:
            raise UnknownGateway("gateway EUI %s is not in [udp] gateways" % eui)
        return eui

    def _seen(self, eui: str, version: int, now: float) -> Concentrator | None:
        """The table entry of eui, made when there is room (None when the table is full)."""
        c = self.concentrators.get(eui)
        if c is None:
            if len(self.concentrators) >= MAX_CONCENTRATORS:
                self.expire(now)
                if len(self.concentrators) >= MAX_CONCENTRATORS:
                    self.metrics.inc("concentrators_not_kept")
                    self._ratelog.warn(
                        "concentrators_full", "%d concentrators known: %s not kept" % (MAX_CONCENTRATORS, eui)
                    )
                    return None
            c = self.concentrators[eui] = Concentrator(eui)
            log.info("concentrator %s connected (protocol v%d)", eui, version)
        c.version, c.last_seen = version, now
        return c

    def expire(self, now: float) -> int:
        """Forget concentrators silent for CONCENTRATOR_TTL_S; returns how many."""
        old = [eui for eui, c in self.concentrators.items() if now - c.last_seen > CONCENTRATOR_TTL_S]
        for eui in old:
            del self.concentrators[eui]
            log.info("concentrator %s forgotten: silent for %.0f s", eui, CONCENTRATOR_TTL_S)
        return len(old)

    def send_downlink(self, eui: str, tx: TxPacket) -> bytes | None:
        """Send a PULL_RESP to the concentrator's downlink address; its token, or None without a route."""
        c = self.concentrators.get(eui)
        if c is None or c.pull_addr is None or time.monotonic() - c.pull_seen > PULL_ROUTE_TTL_S:
            return None
        token = os.urandom(2)
        try:
            self.sock.sendto(build_pull_resp(c.version, token, tx), c.pull_addr)
        except OSError as e:
            self._ratelog.warn("socket_error", str(e))
            return None
        self.metrics.inc("pull_resp")
        return token

    def status(self) -> dict[str, Any]:
        self.expire(time.time())
        return {
            eui: {"last_seen": c.last_seen, "downlink_route": c.pull_addr is not None, "stat": c.stat}
            for eui, c in self.concentrators.items()
        }
