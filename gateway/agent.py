"""The gateway agent process: packet-forwarder server + LoRaWAN ingest into the durable buffer.

One thread runs the loop: wait for datagrams (or the next group-commit deadline), handle them,
commit when due. SIGTERM/SIGINT stop it cleanly: the pending batch is committed, counters are
saved, the buffer and registry are closed. The forwarding side's services (forwarder, health,
local sensors) are added with `add_service`: objects with start() and stop() run beside the loop and are stopped
before the buffer closes.
"""

from __future__ import annotations

import logging
import select
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Protocol

from gateway.config import Config, parse_host_port
from gateway.downlinks import Scheduler
from gateway.gaps import Backfill
from gateway.ingest import Ingest
from gateway.metrics import METRICS_FILE, Metrics
from gateway.ratelog import RateLimitedLog
from gateway.registry import Registry, check_private
from gateway.store.buffer import RESERVE_BYTES, RESERVE_SUFFIX, ReadingBuffer
from gateway.store.recover import open_buffer
from gateway.store.reserve import Reserve
from gateway.udp.pull_resp import TxPacket
from gateway.udp.server import PacketForwarderServer
from gateway.udp.tx_ack import TxAck

log = logging.getLogger("gateway.agent")

BUFFER_FILE = "buffer.sqlite"
HOUSEKEEPING_S = 1.0  # registry refresh, metrics save, concentrator status
# The devices' ADR/DevStatus records (gateway/netmac.py): those whose answers changed are saved
# within RADIO_SAVE_S, every heard one each RADIO_FULL_SAVE_S and at stop.
RADIO_SAVE_S = 60.0
RADIO_FULL_SAVE_S = 1800.0


class Service(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class Agent:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        data_dir = cfg.data_dir
        if Reserve(str(data_dir / BUFFER_FILE) + RESERVE_SUFFIX, RESERVE_BYTES).release_if_tight():
            log.warning("disk under %s nearly full: its reserve given back so the agent can open its files", data_dir)
        self.registry = Registry.open(data_dir)  # creates data_dir 0700, checks modes
        check_private(data_dir)
        self.metrics = Metrics(data_dir / METRICS_FILE, cfg.storage.metrics_interval_s)
        self.buffer: ReadingBuffer
        self.buffer, recovery = open_buffer(str(data_dir / BUFFER_FILE))
        if recovery is not None:
            log.error(
                "buffer was corrupt (%s): moved to %s, salvaged %d readings",
                recovery.reason,
                recovery.quarantined,
                recovery.salvaged_readings,
            )
        self.scheduler = Scheduler(cfg.lorawan, self.registry, self.metrics, self._send_downlink)
        b = cfg.backfill
        self.backfill = Backfill(
            retry_s=b.retry_s, max_attempts=b.max_attempts, ack_interval_s=b.ack_interval_s, enabled=b.enabled
        )
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        # counters of readings on disk are written lazily (gateway/ingest.py): the buffer knows them
        self.registry.raise_up_counters((u.dev_eui, u.dev_addr, u.fcnt) for u in self.buffer.newest_uplinks())
        self.registry.reserve_all()
        for s in self.registry.sessions():  # readings after the saved seq that a crash lost are asked for again
            if s.last_seq is not None:
                self.backfill.seed(s.dev_eui, s.last_seq)
        self.ingest = Ingest(cfg, self.registry, self.buffer, self.metrics, self.scheduler, self.backfill, self._wake)
        self.ingest.netmac.restore(self.registry.radio_states())  # ADR goes on where the last run was
        self._radio_saved_at = self._radio_full_at = time.monotonic()
        self.buffer.on_delivered = self._wake  # staged readings at the broker: count them, send their acks
        self.server = PacketForwarderServer(
            parse_host_port(cfg.udp.bind),
            self.metrics,
            self.ingest.on_rxpk,
            self._on_tx_ack,
            cfg.udp.receive_buffer_kb * 1024,
            cfg.udp.gateways,
            cfg.udp.rxpk_time_window_s,
        )
        self.services: list[Service] = []
        self._took_commands = False  # operator downlinks left in the registry are taken at start too
        # MQTT forwarder (when [mqtt] url is set), health and quota, local sensors
        from gateway.forward.service import build_services

        for service in build_services(cfg, self.buffer, self.metrics):
            self.add_service(service)
            if hasattr(service, "observe_uplinks"):  # the health service checks the values of safe readings
                self.ingest.observe_delivered = service.observe_uplinks
        self._stop = threading.Event()
        self._ratelog = RateLimitedLog(log)

    @property
    def data_dir(self) -> Path:
        return self.cfg.data_dir

    def add_service(self, service: Service) -> None:
        self.services.append(service)

    def _send_downlink(self, eui: str, tx: TxPacket) -> bytes | None:
        return self.server.send_downlink(eui, tx)

    def _on_tx_ack(self, ack: TxAck, mono: float) -> None:
        self.scheduler.on_tx_ack(ack.header.token, ack.error, mono)

    def _wake(self) -> None:
        """Make the loop's select return (from the commit thread, a signal handler, stop())."""
        try:
            self._wake_w.send(b"\0")
        except OSError:  # buffer full: the loop is awake anyway; closed: shutting down
            pass

    def stop(self) -> None:
        """Ask the loop to finish (thread- and signal-safe)."""
        self._stop.set()
        self._wake()

    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self) -> None:
        log.info("listening for packet forwarders on %s:%d", *self.server.address)
        for s in self.services:
            s.start()
        ingest, server = self.ingest, self.server
        server_fd, wake_fd = server.fileno(), self._wake_r.fileno()
        fds = [server_fd, wake_fd]
        next_housekeeping = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                due = ingest.due_in(now)
                timeout = max(0.0, min(due if due is not None else HOUSEKEEPING_S, next_housekeeping - now))
                # select, not poll: its timeout has microseconds, poll's whole milliseconds would
                # hold a commit up to 1 ms past its deadline
                ready, _, _ = select.select(fds, [], [], timeout)
                if wake_fd in ready:
                    self._drain_wake()
                if server_fd in ready:
                    server.pump()
                now = time.monotonic()
                self._supervised("ingest", ingest.poll, now)
                if now >= next_housekeeping:
                    next_housekeeping = now + HOUSEKEEPING_S
                    self._supervised("housekeeping", self._housekeeping)
        finally:
            self._shutdown()

    def _supervised(self, what: str, fn: Callable[..., None], *args: object) -> None:
        """Run one step of the loop; an exception (a bug) is counted in internal_errors and logged,
        and the loop goes on: no packet, MAC command, metric or file write may end it."""
        try:
            fn(*args)
        except Exception as e:
            self.metrics.inc("internal_errors")
            if self._ratelog.warn("internal_error." + what, "%s: %s" % (type(e).__name__, e)):
                log.exception("%s step failed; the agent goes on", what)

    def _drain_wake(self) -> None:
        try:  # one read: wake-ups are a byte each; any left over wake the next select at once
            self._wake_r.recv(4096)
        except OSError:
            pass

    def _save_radio_states(self, full: bool = True) -> None:
        now = time.monotonic()
        try:
            self.registry.save_radio_states(self.ingest.netmac.states(full))
        except sqlite3.Error as e:  # a full disk: these records are saved at the next try
            log.warning("saving the devices' radio state failed: %s", e)
        self._radio_saved_at = now
        if full:
            self._radio_full_at = now

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._radio_saved_at >= RADIO_SAVE_S:
            self._save_radio_states(full=now - self._radio_full_at >= RADIO_FULL_SAVE_S)
        try:
            if self.registry.refresh() or not self._took_commands:
                self._took_commands = True
                self.registry.reserve_all()
                for dev_eui, fport, payload in self.registry.take_commands():
                    if self.scheduler.enqueue(dev_eui, fport, payload):
                        log.info("queued a %d-byte downlink on FPort %d for %s", len(payload), fport, dev_eui)
        except Exception as e:  # a locked or damaged registry must not stop ingest
            log.warning("registry refresh failed: %s", e)
        self.metrics.set("concentrators", self.server.status())
        self.metrics.save()  # a full disk skips it (counted), never raises

    def _shutdown(self) -> None:
        # The open group commit first, while the forwarder and health still run: its readings are
        # then counted in the final backlog figure instead of appearing after it.
        if not self.ingest.finish():
            log.error("the last batch could not be committed; those uplinks were never counted as received")
        for s in reversed(self.services):
            try:
                s.stop()
            except Exception:
                log.exception("stopping %r failed", s)
        self.metrics.save(force=True)
        self._save_radio_states()
        self.server.close()
        self.buffer.close()
        self.registry.close()
        self._wake_r.close()
        self._wake_w.close()
        log.info("stopped")
