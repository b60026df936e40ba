"""machine.UART subset over pyserial: read, readinto, write, any.

Reads never block longer than the port's timeout (default 0.1 s) and return None when nothing
arrived, as machine.UART does. pyserial's SerialException is an OSError, which the UART drivers
turn into their typed errors.
"""

from __future__ import annotations

from typing import Any

import serial


class SerialUART:
    """SerialUART(port, baudrate=9600, timeout=0.1): port is a device path or an open serial.Serial."""

    def __init__(self, port: str | Any, baudrate: int = 9600, timeout: float = 0.1) -> None:
        if isinstance(port, str):
            self._ser = serial.Serial(port, baudrate=baudrate, timeout=timeout)
        else:
            self._ser = port

    def close(self) -> None:
        self._ser.close()

    def any(self) -> int:
        return int(self._ser.in_waiting)

    def read(self, n: int | None = None) -> bytes | None:
        if n is None:
            n = max(self.any(), 1)
        data = self._ser.read(n)
        return bytes(data) if data else None

    def readinto(self, buf: bytearray | memoryview, n: int | None = None) -> int | None:
        if n is None:
            n = len(buf)
        data = self.read(min(n, len(buf)))
        if data is None:
            return None
        buf[: len(data)] = data
        return len(data)

    def write(self, buf: bytes | bytearray | memoryview) -> int:
        written = self._ser.write(bytes(buf))
        return int(written or 0)
