"""The real agent in a thread (real sockets, real SQLite files) plus helpers to build node uplinks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from edge import payload
from gateway import config, lorawan
from gateway.agent import BUFFER_FILE, Agent
from gateway.registry import Registry
from gateway.store.buffer import ReadingBuffer

H = bytes.fromhex
NWK = H("2b7e151628aed2a6abf7158809cf4f3c")
APP = H("000102030405060708090a0b0c0d0e0f")


def make_config(tmp_path: Path, **sections: dict) -> config.Config:
    raw: dict = {"gateway": {"id": "test-gw"}, "udp": {"bind": "127.0.0.1:0"},
                 "storage": {"data_dir": str(tmp_path / "data")}}  # fmt: skip
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return config.from_dict(raw)


def add_abp(cfg: config.Config, dev_eui: str, dev_addr: str, nwk: bytes = NWK, app: bytes = APP) -> None:
    reg = Registry.open(cfg.data_dir)
    reg.add_abp(dev_eui, dev_addr, nwk, app)
    reg.close()


class AgentThread:
    def __init__(self, cfg: config.Config) -> None:
        self.cfg = cfg
        self.agent = Agent(cfg)
        self.address = self.agent.server.address
        self.metrics = self.agent.metrics
        self._t = threading.Thread(target=self.agent.run, daemon=True)
        self._t.start()

    def wait(self, counter: str, n: int, timeout: float = 5.0) -> int:
        end = time.monotonic() + timeout
        while self.metrics.get(counter) < n and time.monotonic() < end:
            time.sleep(0.005)
        return self.metrics.get(counter)

    def stop(self) -> None:
        if not self._t.is_alive():
            return
        self.agent.stop()
        self._t.join(10)
        assert not self._t.is_alive()


def uplink(dev_addr: str, fcnt: int, readings: list[dict] | dict | None = None, *, fport: int = 1,
           nwk: bytes = NWK, app: bytes = APP, confirmed: bool = False, fopts: bytes = b"") -> bytes:  # fmt: skip
    data = payload.encode(readings) if readings is not None else b""
    return lorawan.build_data_frame(
        nwkskey=nwk, appskey=app, dev_addr=H(dev_addr), fcnt32=fcnt, uplink=True, confirmed=confirmed,
        fport=fport if readings is not None or fport == 0 else None, payload=data, fopts=fopts,
    )  # fmt: skip


def stored(cfg: config.Config) -> list[tuple[str, int, int, dict]]:
    """(dev_eui, seq, t, values) of every reading in the buffer, read after the agent stopped."""
    buf = ReadingBuffer(cfg.data_dir / BUFFER_FILE)
    out = []
    try:
        while True:
            claim = buf.claim(10_000)
            if claim is None:
                break
            for row in claim.rows:
                out += [(row.dev_eui, seq, t, values) for seq, t, values in row.readings]
    finally:
        buf.close()
    return out


def stored_uplinks(cfg: config.Config) -> list:
    buf = ReadingBuffer(cfg.data_dir / BUFFER_FILE)
    try:
        claim = buf.claim(1_000_000)
        return [] if claim is None else [buf.uplink_of(r.id) for r in claim.rows]
    finally:
        buf.close()
