from drivers.errors import ChecksumError, NotReady, SensorTimeout
from drivers.pms5003 import PMS5003
from edge.clock import VirtualClock
from simulator.devices.pms5003 import PMS5003Emulator
from tests.device.mptest import raises

# A frame built by hand from the manual's layout: PM CF=1 14/21/25, atmospheric 13/20/24,
# counts 2811/794/145/12/3/1, reserved 0x9700; check word = sum of bytes 0..29 = 890 = 0x037A.
FRAME = bytes.fromhex("424d001c000e00150019000d00140018" + "0afb031a0091000c00030001" + "9700" + "037a")


class _Line:
    def __init__(self, data):
        self.data = bytearray(data)
        self.written = bytearray()

    def any(self):
        return len(self.data)

    def readinto(self, buf, n=None):
        n = min(len(buf) if n is None else n, len(self.data))
        for i in range(n):
            buf[i] = self.data[i]
        self.data = self.data[n:]
        return n

    def write(self, buf):
        self.written += buf
        if buf[2] == 0xE1:  # answer the mode command, then the frame follows the read request
            self.data += bytes.fromhex("424d0004e1000174")
        elif buf[2] == 0xE2:
            self.data += FRAME
        return len(buf)


def _setup(mode="passive"):
    clock = VirtualClock()
    uart = PMS5003Emulator(clock=clock)
    return clock, uart, PMS5003(uart, mode=mode, clock=clock)


def test_frame_from_the_manual_layout():
    assert sum(FRAME[:30]) == (FRAME[30] << 8) | FRAME[31]
    line = _Line(b"")
    drv = PMS5003(line, clock=VirtualClock())
    assert drv.read() == {"pm1": 13.0, "pm2_5": 20.0, "pm10": 24.0}
    assert drv.standard == [14, 21, 25]
    assert drv.counts == [2811, 794, 145, 12, 3, 1]
    # passive mode command, then the read request: 42 4D E1 00 00 01 70, 42 4D E2 00 00 01 71
    assert bytes(line.written) == bytes.fromhex("424de100000170424de200000171")


def test_passive_round_trip():
    clock, uart, drv = _setup()
    uart.set(pm1=3.0, pm2_5=8.0, pm10=15.0)
    uart.counts = [900, 300, 40, 5, 1, 0]
    assert drv.read() == {"pm1": 3.0, "pm2_5": 8.0, "pm10": 15.0}
    assert not uart.active and drv.counts == [900, 300, 40, 5, 1, 0]


def test_active_mode():
    clock, uart, drv = _setup(mode="active")
    uart.set(pm2_5=33.0)
    clock.advance(10000)
    uart.set(pm2_5=34.0)
    t0 = clock.ticks_ms()
    assert drv.read()["pm2_5"] == 34.0
    assert clock.ticks_diff(clock.ticks_ms(), t0) <= 3000


def test_sleep_wake_warmup():
    clock, uart, drv = _setup()
    drv.sleep()
    assert uart.asleep
    with raises(NotReady):
        drv.read()
    drv.wake()
    assert not uart.asleep
    clock.advance(29000)
    with raises(NotReady):
        drv.read()
    clock.advance(1000)
    assert "pm10" in drv.read()


def test_faults():
    clock, uart, drv = _setup()
    drv.read()
    uart.fault("checksum")
    with raises(ChecksumError):
        drv.read()
    uart.fault("garbage")
    uart.set(pm10=77.0)
    assert drv.read()["pm10"] == 77.0
    uart.fault("nack")
    with raises(SensorTimeout):
        drv.read()
    uart.fault("stuck")
    uart.set(pm10=1.0)
    assert drv.read()["pm10"] == 77.0
    uart.fault("asleep")
    with raises(SensorTimeout):
        drv.read()
    drv.wake()
    clock.advance(PMS5003.WARMUP_MS)
    assert drv.read()["pm10"] == 77.0
