"""The gateway adapters run the node's drivers on Linux buses.

I2C: SMBusI2C with real smbus2 i2c_msg objects, over a stand-in for the kernel's i2c-dev ioctl
that hands each message to the emulators on a VirtualI2C (no /dev/i2c-* on a CI machine).
UART: SerialUART with real pyserial on a real pseudo-terminal; the emulator sits on the other end.
"""

import ctypes
import errno
import os
import select
import threading
import time

import pytest
from smbus2.smbus2 import I2C_M_RD

from drivers.bme280 import BME280
from drivers.dnms import DNMS
from drivers.errors import NotPresent, SensorError, SensorTimeout
from drivers.pcb_db import DecibelMeter
from drivers.pms5003 import PMS5003
from drivers.sds011 import SDS011
from drivers.sht3x import SHT3x
from drivers.sht4x import SHT4x
from drivers.sps30 import SPS30
from edge.clock import SystemClock, VirtualClock
from gateway.buses.i2c import SMBusI2C
from gateway.buses.uart import SerialUART
from simulator.devices.bme280 import BME280Emulator
from simulator.devices.dnms import DNMSEmulator
from simulator.devices.i2c import VirtualI2C
from simulator.devices.pcb_db import DecibelMeterEmulator
from simulator.devices.pms5003 import PMS5003Emulator
from simulator.devices.sds011 import SDS011Emulator
from simulator.devices.sht3x import SHT3xEmulator
from simulator.devices.sht4x import SHT4xEmulator
from simulator.devices.sps30 import SPS30Emulator


class KernelI2C:
    """What i2c-dev does with I2C_RDWR: run the messages in one transaction; NACK -> EREMOTEIO."""

    def __init__(self, bus: VirtualI2C, fail_errno: int | None = None) -> None:
        self.bus = bus
        self.transactions: list[list[tuple[int, bool, int]]] = []
        self.fail_errno = fail_errno
        self.closed = False

    def i2c_rdwr(self, *msgs) -> None:
        if self.fail_errno is not None:
            raise OSError(self.fail_errno, os.strerror(self.fail_errno))
        self.transactions.append([(m.addr, bool(m.flags & I2C_M_RD), m.len) for m in msgs])
        for m in msgs:
            try:
                if m.flags & I2C_M_RD:
                    data = self.bus.readfrom(m.addr, m.len)
                    ctypes.memmove(m.buf, data, m.len)
                else:
                    self.bus.writeto(m.addr, bytes(m))
            except OSError:
                raise OSError(errno.EREMOTEIO, "Remote I/O error") from None

    def close(self) -> None:
        self.closed = True


def _i2c(emu_cls):
    clock = VirtualClock()
    bus = VirtualI2C()
    emu = bus.attach(emu_cls(clock=clock))
    kernel = KernelI2C(bus)
    return clock, emu, kernel, SMBusI2C(kernel)


@pytest.mark.parametrize(
    ("emu_cls", "drv_cls", "values"),
    [
        (SHT4xEmulator, SHT4x, {"temperature": 21.5, "humidity": 48.0}),
        (SHT3xEmulator, SHT3x, {"temperature": -3.25, "humidity": 91.0}),
        (BME280Emulator, BME280, {"temperature": 18.0, "pressure": 99500.0, "humidity": 60.0}),
        (DNMSEmulator, DNMS, {"laeq": 58.5, "lamin": 44.0, "lamax": 77.25}),
    ],
)
def test_i2c_drivers_run_on_smbus2(emu_cls, drv_cls, values):
    clock, emu, kernel, i2c = _i2c(emu_cls)
    emu.set(**values)
    got = drv_cls(i2c, clock=clock).read()
    for name, v in values.items():
        assert got[name] == pytest.approx(v, abs=emu.QUANTITIES[name][2])


def test_sps30_and_decibel_meter_on_smbus2():
    clock, emu, kernel, i2c = _i2c(SPS30Emulator)
    drv = SPS30(i2c, clock=clock)
    drv.wake()  # the first wake-up is NACKed by design: the adapter must let the driver retry
    clock.advance(SPS30.WARMUP_MS)
    emu.set(pm2_5=12.5)
    assert drv.read()["pm2_5"] == 12.5
    clock, emu, kernel, i2c = _i2c(DecibelMeterEmulator)
    clock.advance(1000)
    emu.set(laeq=66.0)
    assert DecibelMeter(i2c, clock=clock).read()["laeq"] == 66.0


def test_register_read_is_one_combined_transaction():
    clock, emu, kernel, i2c = _i2c(BME280Emulator)
    kernel.transactions.clear()
    assert i2c.readfrom_mem(0x76, 0xD0, 1) == b"\x60"
    assert kernel.transactions == [[(0x76, False, 1), (0x76, True, 1)]]  # write reg, repeated start, read


def test_nack_becomes_enodev_and_not_present():
    clock, emu, kernel, i2c = _i2c(SHT4xEmulator)
    with pytest.raises(OSError) as exc:
        i2c.readfrom(0x45, 2)
    assert exc.value.errno == errno.ENODEV
    emu.fault("nack")
    with pytest.raises(NotPresent):
        SHT4x(i2c, clock=clock).read()
    assert i2c.scan() == []
    emu.fault(None)
    assert i2c.scan() == []  # an SHT4x NACKs reads without a pending measurement, like the chip


def test_bus_timeout_is_sensor_timeout():
    clock = VirtualClock()
    i2c = SMBusI2C(KernelI2C(VirtualI2C(), fail_errno=errno.ETIMEDOUT))
    with pytest.raises(SensorTimeout):
        SHT3x(i2c, clock=clock).read()


def test_bus_number_opens_the_linux_device():
    with pytest.raises(OSError):
        SMBusI2C(250)  # /dev/i2c-250 does not exist here


class PtyLine:
    """An emulator on the far end of a real pseudo-terminal, pumped by a thread in real time."""

    def __init__(self, emu) -> None:
        self.emu = emu
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self._slave = slave
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.005)
            with self._lock:
                if r:
                    try:
                        self.emu.write(os.read(self.master, 256))
                    except OSError:
                        return
                out = self.emu.read()
            if out:
                os.write(self.master, out)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(1)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def pty_line():
    lines = []

    def make(emu):
        line = PtyLine(emu)
        lines.append(line)
        return line

    yield make
    for line in lines:
        line.close()


def _raw(uart: SerialUART) -> None:
    import termios
    import tty

    tty.setraw(uart._ser.fileno(), termios.TCSANOW)


def test_sds011_over_a_real_serial_port(pty_line):
    emu = SDS011Emulator(clock=SystemClock())
    line = pty_line(emu)
    uart = SerialUART(line.path, timeout=0.05)
    _raw(uart)
    drv = SDS011(uart)
    emu.set(pm2_5=35.2, pm10=51.7)
    assert drv.read() == {"pm2_5": 35.2, "pm10": 51.7}
    drv.set_mode("active")
    assert not emu.query_mode
    emu.set(pm2_5=8.8)
    assert drv.read()["pm2_5"] == 8.8
    uart.close()


def test_pms5003_over_a_real_serial_port_with_garbage(pty_line):
    emu = PMS5003Emulator(clock=SystemClock())
    line = pty_line(emu)
    uart = SerialUART(line.path, timeout=0.05)
    _raw(uart)
    emu.fault("garbage")
    emu.set(pm1=4.0, pm2_5=9.0, pm10=12.0)
    assert PMS5003(uart).read() == {"pm1": 4.0, "pm2_5": 9.0, "pm10": 12.0}
    uart.close()


def test_a_vanished_port_is_a_sensor_error(pty_line):
    emu = SDS011Emulator(clock=SystemClock())
    line = pty_line(emu)
    uart = SerialUART(line.path, timeout=0.05)
    _raw(uart)
    drv = SDS011(uart)
    line.close()  # the USB adapter is pulled: the master side is gone
    t0 = time.monotonic()
    with pytest.raises(SensorError):
        drv.read()
    assert time.monotonic() - t0 < 3
    uart.close()
