"""A scripted Semtech packet forwarder for the tests: a real UDP socket on loopback."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct

from gateway.udp.push_data import build_push_data


def rxpk(phy: bytes, tmst: int = 1_000_000, freq: float = 868.1, datr: str = "SF7BW125", rssi: int = -60,
         lsnr: float = 7.5, stat: int = 1) -> dict:  # fmt: skip
    return {
        "tmst": tmst, "chan": 0, "rfch": 0, "freq": freq, "stat": stat, "modu": "LORA", "datr": datr,
        "codr": "4/5", "rssi": rssi, "lsnr": lsnr, "size": len(phy), "data": base64.b64encode(phy).decode(),
    }  # fmt: skip


class Forwarder:
    def __init__(self, server: tuple[str, int], eui: str = "aa555a0000000101", version: int = 2) -> None:
        self.server = server
        self.eui = eui
        self.version = version
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def recv(self, timeout: float = 5.0) -> bytes:
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65535)
        return data

    def nothing(self, timeout: float = 0.3) -> bool:
        self.sock.settimeout(timeout)
        try:
            self.sock.recvfrom(65535)
        except TimeoutError:
            return True
        return False

    def drain(self, timeout: float = 0.2) -> list[bytes]:
        """Everything that arrives within timeout."""
        out = []
        self.sock.settimeout(timeout)
        try:
            while True:
                out.append(self.sock.recvfrom(65535)[0])
        except (TimeoutError, BlockingIOError):
            return out

    def push(self, packets: list[dict], stat: dict | None = None, token: bytes | None = None) -> bytes:
        """Send PUSH_DATA and return the PUSH_ACK."""
        token = token or os.urandom(2)
        body: dict = {"rxpk": packets}
        if stat is not None:
            body["stat"] = stat
        self.send(build_push_data(self.version, token, self.eui, body))
        ack = self.recv()
        assert ack == bytes((self.version,)) + token + b"\x01", ack
        return ack

    def pull(self, token: bytes = b"\x12\x34") -> bytes:
        self.send(bytes((self.version,)) + token + b"\x02" + bytes.fromhex(self.eui))
        return self.recv()

    def tx_ack(self, token: bytes, error: str | None = None) -> None:
        body = b"" if error is None else json.dumps({"txpk_ack": {"error": error}}).encode()
        self.send(bytes((self.version,)) + token + b"\x05" + bytes.fromhex(self.eui) + body)

    def pull_resp(self, timeout: float = 5.0) -> tuple[bytes, dict]:
        """Wait for a PULL_RESP; (token, txpk)."""
        while True:
            data = self.recv(timeout)
            if data[3] == 3:
                return data[1:3], json.loads(data[4:])["txpk"]


def u16(n: int) -> bytes:
    return struct.pack("<H", n)
