"""The health service: metrics, alerts and the buffer's quota and age limits, in one thread.

- Observes every reading once it is safe: written by a commit (a buffer listener queues the
  commit) or acknowledged by the broker before its commit (the ingest hands each such batch to
  `observe_uplinks`). This thread evaluates the queued batches every 0.2 s and publishes alerts on
  {root}/{gateway_id}/alerts through the forwarder's side channel.
- Every [buffer] check_interval_s: evicts readings beyond [buffer] quota_mb and max_age_days,
  counted per device, reported as alerts.
- Every [alerts] metrics_interval_s: publishes the metrics document (docs/platform.md) retained on
  {root}/{gateway_id}/metrics, and keeps the agent's persisted counters (gateway/metrics.py)
  current for `edge gateway status`.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Sequence
from typing import Any

from gateway.config import Config
from gateway.forward.forwarder import Forwarder, ForwarderStats
from gateway.health.alerts import Alert, AlertEngine
from gateway.metrics import Metrics
from gateway.service import ThreadService
from gateway.store.buffer import ReadingBuffer
from gateway.store.errors import StoreError
from gateway.store.records import Reading, Uplink

log = logging.getLogger("edge.gateway.health")

COUNTER_INTERVAL_S = 1.0  # how often the agent's status counters are refreshed
INBOX_COMMITS = 100  # batches (commits, deliveries) waiting for value checks; drained every 0.2 s

# One uplink's (or one local-sensor commit's) readings with the radio link they came over
# (RSSI dBm, SNR dB; None for sensors on the gateway).
Observed = tuple[float | None, float | None, Sequence[Reading]]


def process_bytes_written() -> int | None:
    """Bytes this process caused to be written to storage (/proc/self/io write_bytes)."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class HealthService(ThreadService):
    def __init__(
        self, cfg: Config, buffer: ReadingBuffer, forwarder: Forwarder | None, metrics: Metrics | None
    ) -> None:
        super().__init__("health")
        self.cfg = cfg
        self.buffer = buffer
        self.forwarder = forwarder
        self.metrics = metrics
        self.engine = AlertEngine(cfg.alerts)
        # Commits waiting for their value checks. Bounded: the committer must never block on it, and
        # a burst the checks cannot follow skips them (counted) instead of growing memory; the
        # readings themselves are already stored and forwarded either way.
        self._inbox: queue.Queue[tuple[float, Sequence[Observed]]] = queue.Queue(maxsize=INBOX_COMMITS)
        self._unchecked_lock = threading.Lock()  # the commit and the ingest thread both may count
        self.unchecked_readings = 0
        self.alerts_sent: list[Alert] = []  # the last alerts, for status and tests (bounded)
        self.last_metrics: dict[str, Any] = {}
        self._full_seen: dict[str, int] = {}  # buffer.evicted_on_full at the last check
        self._skipped_seen = 0  # metrics_writes_skipped at the last check
        buffer.add_listener(self._on_commit)

    def _on_commit(self, items: Sequence[tuple[Uplink | None, Sequence[Reading]]]) -> None:
        self.observe_uplinks([(None, None, rs) if u is None else (u.rssi, u.snr, rs) for u, rs in items])

    def observe_uplinks(self, batch: Sequence[Observed]) -> None:
        """Queue a batch of safe readings for the value checks (any thread; never blocks)."""
        try:
            self._inbox.put_nowait((time.time(), batch))
        except queue.Full:
            with self._unchecked_lock:
                self.unchecked_readings += sum(len(readings) for _, _, readings in batch)

    def stop(self) -> None:
        super().stop()
        self._update_counters()

    def _run(self) -> None:
        now = time.monotonic()
        next_check, next_metrics, next_counters = now, now + self.cfg.alerts.metrics_interval_s, now
        while not self._stop.wait(0.2):
            now = time.monotonic()
            try:
                self._drain_inbox()
                if now >= next_check:
                    next_check = now + self.cfg.buffer.check_interval_s
                    self._check_capacity()
                if now >= next_metrics:
                    next_metrics = now + self.cfg.alerts.metrics_interval_s
                    self.publish_metrics()
                if now >= next_counters:
                    next_counters = now + COUNTER_INTERVAL_S
                    self._update_counters()
            except StoreError as e:
                self._emit([Alert("store_error", "raised", int(time.time()), str(e))])
                log.error("health: buffer error: %s", e)
            except Exception:  # a bug here must not silence alerts for good
                log.exception("health check failed; going on")

    def _drain_inbox(self) -> None:
        alerts: list[Alert] = []
        while True:
            try:
                at, items = self._inbox.get_nowait()
            except queue.Empty:
                break
            observe = self.engine.observe
            for rssi, snr, readings in items:
                if len(readings) == 1:  # an uplink of one reading: the common case
                    r = readings[0]
                    alerts += observe(r.dev_eui, [(r.seq, r.t, r.values)], at, rssi, snr)
                    continue
                by_dev: dict[str, list[tuple[int, int, dict[str, float]]]] = {}
                for r in readings:
                    by_dev.setdefault(r.dev_eui, []).append((r.seq, r.t, r.values))
                for dev, rs in by_dev.items():
                    alerts += observe(dev, rs, at, rssi, snr)
        self._emit(alerts)

    def _check_capacity(self) -> None:
        b = self.cfg.buffer
        evicted = self.buffer.evict(max_bytes=b.quota_mb * 1024 * 1024, max_age_s=b.max_age_days * 86400.0)
        on_full = {eui: n - self._full_seen.get(eui, 0) for eui, n in list(self.buffer.evicted_on_full.items())}
        on_full = {eui: n for eui, n in on_full.items() if n > 0}
        self._full_seen.update((eui, self._full_seen.get(eui, 0) + n) for eui, n in on_full.items())
        skipped = self.metrics.get("metrics_writes_skipped") if self.metrics is not None else 0
        disk_full = bool(on_full) or skipped > self._skipped_seen
        self._skipped_seen = skipped
        for eui, n in on_full.items():
            evicted[eui] = evicted.get(eui, 0) + n
        if evicted and self.metrics is not None:
            self.metrics.inc("evicted_readings", sum(evicted.values()))
        if evicted:
            log.warning("evicted %d readings (quota, age or full disk): %s", sum(evicted.values()), evicted)
        st = self.buffer.stats()
        self._emit(
            self.engine.tick(
                time.time(),
                disk_fraction=self._disk_fraction(st.used_bytes),
                disconnected_since=self.forwarder.stats.disconnected_since if self.forwarder else None,
                evicted=evicted,
                disk_full=disk_full,
            )
        )

    def _disk_fraction(self, used: int) -> float:
        quota = self.cfg.buffer.quota_mb * 1024 * 1024
        frac = used / quota
        try:
            du = shutil.disk_usage(os.path.dirname(os.path.abspath(self.buffer.path)))
            frac = max(frac, 1 - du.free / du.total)
        except OSError:
            pass
        return frac

    def _emit(self, alerts: list[Alert]) -> None:
        for a in alerts:
            log.warning("alert %s %s: %s", a.alert, a.state, a.message)
            self.alerts_sent.append(a)
            if self.cfg.alerts.enabled and self.forwarder is not None:
                self.forwarder.publish_side("alerts", a.to_json(), qos=1)
        del self.alerts_sent[:-1000]

    def metrics_doc(self) -> dict[str, Any]:
        st = self.buffer.stats()
        fs = self.forwarder.stats if self.forwarder is not None else ForwarderStats()
        now = time.time()
        rate = fs.drain_rate(time.monotonic())
        try:
            free = shutil.disk_usage(os.path.dirname(os.path.abspath(self.buffer.path))).free
        except OSError:
            free = 0
        devices = {}
        for eui, d in self.engine.devices.items():
            dev: dict[str, Any] = {"last_seen": int(d.last_seen), "backlog": st.per_device.get(eui, 0)}
            if d.rssi is not None:
                dev["rssi"], dev["snr"] = d.rssi, d.snr
            devices[eui] = dev
        return {
            "at": int(now),
            "backlog_readings": st.pending_readings,
            "backlog_bytes": st.used_bytes,
            "oldest_backlog_age_s": None if st.oldest_rx is None else max(0, int(now - st.oldest_rx)),
            "inflight_readings": st.inflight_readings,
            "drain_rate_per_s": round(rate, 1),
            "time_to_empty_s": round(st.pending_readings / rate, 1) if rate > 0 else None,
            "forwarded_readings": fs.forwarded_readings,
            "published_batches": fs.published_batches,
            "acked_batches": fs.acked_batches,
            "failed_publishes": dict(fs.failed_publishes),
            "evicted_readings": st.evicted,
            "disk_bytes_written": process_bytes_written() or 0,
            "disk_free_bytes": free,
            "connected": fs.connected,
            "devices": devices,
        }

    def publish_metrics(self) -> None:
        doc = self.metrics_doc()
        self.last_metrics = doc
        if self.forwarder is None:
            return
        self.forwarder.publish_side("metrics", json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(),
                                    retain=True, qos=0)  # fmt: skip

    def _update_counters(self) -> None:
        if self.metrics is None:
            return
        try:
            st = self.buffer.stats()
        except StoreError:
            return
        fs = self.forwarder.stats if self.forwarder is not None else ForwarderStats()
        self.metrics.put("backlog_readings", st.pending_readings)
        self.metrics.put("unchecked_readings", self.unchecked_readings)
        self.metrics.set("forwarder", {
            "connected": fs.connected, "published_batches": fs.published_batches, "acked_batches": fs.acked_batches,
            "failed_publishes": dict(fs.failed_publishes), "inflight_readings": st.inflight_readings,
            "oldest_backlog_rx": st.oldest_rx, "buffer_used_bytes": st.used_bytes,
        })  # fmt: skip
