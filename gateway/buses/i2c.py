"""machine.I2C subset over Linux i2c-dev, via smbus2's i2c_rdwr (combined transactions).

i2c_rdwr sends raw messages, so command-style transfers (Sensirion: write a 16-bit command, read
words back) and register reads with a repeated start both work; SMBus block calls would not.
Errors: a NACK surfaces from the kernel as ENXIO, EREMOTEIO or EIO; it is re-raised as
OSError(ENODEV), what machine.I2C raises, so drivers map it to NotPresent. ETIMEDOUT passes on.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from smbus2 import SMBus, i2c_msg

_NACK_ERRNOS = {errno.ENXIO, errno.EREMOTEIO, errno.EIO, errno.ENODEV}


@contextmanager
def _bus_errors() -> Iterator[None]:
    try:
        yield
    except OSError as e:
        if e.errno in _NACK_ERRNOS:
            raise OSError(errno.ENODEV, "no acknowledge on the I2C bus (%s)" % e) from e
        raise


class SMBusI2C:
    """SMBusI2C(bus): bus is the i2c-dev number (1 for /dev/i2c-1) or an open smbus2.SMBus."""

    def __init__(self, bus: int | Any) -> None:
        self._bus = SMBus(bus) if isinstance(bus, int) else bus

    def close(self) -> None:
        self._bus.close()

    def writeto(self, addr: int, buf: bytes | bytearray | memoryview, stop: bool = True) -> int:
        data = bytes(buf)
        with _bus_errors():
            self._bus.i2c_rdwr(i2c_msg.write(addr, data))
        return len(data)

    def readfrom(self, addr: int, n: int, stop: bool = True) -> bytes:
        msg = i2c_msg.read(addr, n)
        with _bus_errors():
            self._bus.i2c_rdwr(msg)
        return bytes(msg)

    def readfrom_into(self, addr: int, buf: bytearray | memoryview, stop: bool = True) -> None:
        buf[:] = self.readfrom(addr, len(buf))

    def writeto_mem(self, addr: int, reg: int, buf: bytes | bytearray | memoryview, addrsize: int = 8) -> None:
        self.writeto(addr, bytes((reg,)) + bytes(buf))

    def readfrom_mem(self, addr: int, reg: int, n: int, addrsize: int = 8) -> bytes:
        write = i2c_msg.write(addr, bytes((reg,)))
        read = i2c_msg.read(addr, n)
        with _bus_errors():
            self._bus.i2c_rdwr(write, read)  # one combined transaction: repeated start
        return bytes(read)

    def readfrom_mem_into(self, addr: int, reg: int, buf: bytearray | memoryview, addrsize: int = 8) -> None:
        buf[:] = self.readfrom_mem(addr, reg, len(buf))

    def scan(self) -> list[int]:
        found = []
        for addr in range(0x08, 0x78):
            try:
                self.readfrom(addr, 1)
            except OSError:
                continue
            found.append(addr)
        return found
