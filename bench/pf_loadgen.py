"""Load generator speaking the Semtech UDP packet-forwarder protocol (v2), for bench/ingest_load.py
and the kill -9 test.

It registers N ABP devices in an agent's data directory, pre-builds real LoRaWAN uplinks (node
payload v1 on FPort 1, encrypted and MIC'd with gateway.lorawan), packs them several rxpk per
PUSH_DATA (an SX1302 forwarder sends what it demodulated since its last fetch, up to 8 here), and
sends them at a set rate. Every frame is unique (device, FCnt), so every committed uplink can be
told apart in the buffer.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edge import payload
from gateway import lorawan
from gateway.registry import Registry

GATEWAY_EUI = "aa555a0000000001"
T0 = 1763800000


@dataclass(frozen=True)
class Device:
    dev_eui: str
    dev_addr: bytes
    nwkskey: bytes
    appskey: bytes


def make_devices(n: int, seed: int = 1) -> list[Device]:
    out = []
    for i in range(n):
        key = (seed * 1_000_003 + i).to_bytes(16, "big")
        out.append(Device("70b3d5%010x" % i, (0x26000000 + i).to_bytes(4, "big"), key, key[::-1]))
    return out


def register(data_dir: Path, devices: list[Device]) -> None:
    reg = Registry.open(data_dir)
    for d in devices:
        reg.add_abp(d.dev_eui, d.dev_addr.hex(), d.nwkskey, d.appskey)
    reg.close()


QUANTITIES = ("pm2_5", "pm10", "temperature", "humidity", "laeq", "count_in")


def frames(
    devices: list[Device], per_device: int, quantities: int = len(QUANTITIES), relative: bool = False
) -> list[bytes]:
    """Uplinks in round-robin device order; frame k of a device has FCnt k and reading seq k+1,
    with the first `quantities` of QUANTITIES. relative: each reading's seq and time relative to
    the frame, the node firmware's format (the agent dates them by the reception and sends them on
    only once the device's frame counter is on disk, so that a replay cannot redate them)."""
    out = []
    keep = QUANTITIES[:quantities]
    for k in range(per_device):
        for i, d in enumerate(devices):
            w = (k * 7 + i) % 50  # values that move, as real ones do (constant ones raise stuck-value alerts)
            values = {"pm2_5": 8.0 + w / 10, "pm10": 15.0 + w / 5, "temperature": 15.0 + w / 4,
                      "humidity": 40.0 + w / 2, "laeq": 50.0 + w / 5, "count_in": w}  # fmt: skip
            reading = {"seq": k + 1, "t": T0 + 300 * k, **{q: values[q] for q in keep}}
            out.append(
                lorawan.build_data_frame(
                    nwkskey=d.nwkskey,
                    appskey=d.appskey,
                    dev_addr=d.dev_addr,
                    fcnt32=k,
                    uplink=True,
                    fport=1,
                    payload=payload.encode(reading, {"t": reading["t"], "seq": k + 1} if relative else None),
                )  # fmt: skip
            )
    return out


def datagrams(phys: list[bytes], per_datagram: int = 8, eui: str = GATEWAY_EUI) -> list[bytes]:
    out = []
    head = b"\x02\x00\x00\x00" + bytes.fromhex(eui)
    for i in range(0, len(phys), per_datagram):
        rxpk = [
            {
                "tmst": (i + j) * 1000 & 0xFFFFFFFF,
                "chan": 0,
                "rfch": 0,
                "freq": 868.1,
                "stat": 1,
                "modu": "LORA",
                "datr": "SF7BW125",
                "codr": "4/5",
                "rssi": -60,
                "lsnr": 7.5,
                "size": len(p),
                "data": base64.b64encode(p).decode(),
            }  # fmt: skip
            for j, p in enumerate(phys[i : i + per_datagram])
        ]
        token = os.urandom(2)
        out.append(head[:1] + token + head[3:] + json.dumps({"rxpk": rxpk}, separators=(",", ":")).encode())
    return out


class Sender:
    """Sends datagrams to the agent at a rate (datagrams per second), draining PUSH_ACKs as it goes."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.acks = 0
        self.sent = 0
        self.stop = threading.Event()  # set it to end a send() running in another thread

    def _drain(self) -> None:
        while True:
            try:
                self.sock.recv(64)
            except BlockingIOError:
                return
            self.acks += 1

    def send(self, data: list[bytes], rate: float, stop_at: float | None = None) -> int:
        """Send at `rate` datagrams/s (0: as fast as possible); returns how many were sent.

        Paced in 5 ms slices (sleep, then send what is due), so the generator itself uses little CPU."""
        start = time.perf_counter()
        sent = 0
        n = len(data)
        while sent < n:
            if self.stop.is_set() or (stop_at is not None and time.monotonic() >= stop_at):
                break
            if rate:
                due = min(n, int((time.perf_counter() - start) * rate) + 1)
                if due <= sent:
                    time.sleep(0.005)
                    continue
            else:
                due = min(n, sent + 64)
            for d in data[sent:due]:
                try:
                    self.sock.sendto(d, self.server)
                except BlockingIOError:
                    time.sleep(0.0005)
                    self.sock.sendto(d, self.server)
            sent = due
            self.sent = sent
            self._drain()
        self._drain()
        return sent

    def close(self) -> None:
        self.sock.close()
