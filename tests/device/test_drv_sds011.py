from drivers.errors import ChecksumError, NotReady, SensorError, SensorTimeout
from drivers.sds011 import SDS011
from edge.clock import VirtualClock
from simulator.devices.sds011 import SDS011Emulator
from tests.device.mptest import raises


class _Line:
    """A UART that plays fixed bytes (for the datasheet frame) and records writes."""

    def __init__(self, data, silent_polls=0):
        self.data = bytearray(data)
        self.written = bytearray()
        self.silent_polls = silent_polls  # any() answers 0 this often first (bytes still in flight)

    def any(self):
        if self.silent_polls:
            self.silent_polls -= 1
            return 0
        return len(self.data)

    def readinto(self, buf, n=None):
        n = min(len(buf) if n is None else n, len(self.data))
        for i in range(n):
            buf[i] = self.data[i]
        self.data = self.data[n:]
        return n

    def write(self, buf):
        self.written += buf
        return len(buf)


def _setup(mode="query"):
    clock = VirtualClock()
    uart = SDS011Emulator(clock=clock)
    return clock, uart, SDS011(uart, mode=mode, clock=clock)


def test_datasheet_example_frame():
    clock = VirtualClock()
    # one silent poll: the driver's drain of stale bytes finds nothing, then the frame arrives
    line = _Line(bytes.fromhex("AAC0D4043A0AA1601DAB"), silent_polls=1)
    drv = SDS011(line, mode="active", clock=clock)
    assert drv.read() == {"pm2_5": 123.6, "pm10": 261.8}
    assert drv.device_id == 0xA160


def test_sleep_command_bytes_match_the_protocol():
    # Control Protocol V1.3 example: set sleep = AA B4 06 01 00 ... FF FF 05 AB
    line = _Line(b"")
    drv = SDS011(line, clock=VirtualClock())
    with raises(SensorTimeout):
        drv.sleep()
    assert bytes(line.written) == bytes.fromhex("AAB406010000000000000000000000FFFF05AB")


def test_query_mode_round_trip():
    clock, uart, drv = _setup()
    drv.wake()
    assert uart.query_mode
    clock.advance(SDS011.WARMUP_MS)
    uart.set(pm2_5=12.3, pm10=20.0)
    assert drv.read() == {"pm2_5": 12.3, "pm10": 20.0}


def test_active_mode_takes_a_fresh_frame():
    clock, uart, drv = _setup(mode="active")
    uart.set(pm2_5=5.0, pm10=6.0)
    clock.advance(5000)  # five stale frames wait in the FIFO
    uart.set(pm2_5=7.5, pm10=9.9)
    t0 = clock.ticks_ms()
    assert drv.read() == {"pm2_5": 7.5, "pm10": 9.9}
    assert clock.ticks_diff(clock.ticks_ms(), t0) <= 1000 + 20


def test_duty_cycle_sleep_wake_warmup():
    clock, uart, drv = _setup()
    drv.sleep()
    assert uart.asleep and uart.commands[-1] == 6
    with raises(NotReady):
        drv.read()
    on = uart.laser_on_ms
    clock.advance(600000)
    assert uart.laser_on_ms == on  # the laser rests while asleep
    drv.wake()
    assert not uart.asleep and drv.ready_in_ms() == SDS011.WARMUP_MS
    clock.advance(10000)
    with raises(NotReady):
        drv.read()
    assert drv.ready_in_ms() == 20000
    clock.advance(20000)
    assert "pm10" in drv.read()


def test_working_period_and_firmware():
    clock, uart, drv = _setup()
    drv.set_working_period(5)
    assert uart.period_min == 5
    assert drv.firmware() == (2015, 7, 10)
    with raises(ValueError):
        drv.set_working_period(31)


def test_garbage_is_resynchronised():
    clock, uart, drv = _setup()
    uart.set(pm2_5=42.0, pm10=43.1)
    uart.fault("garbage")
    for _ in range(5):
        assert drv.read() == {"pm2_5": 42.0, "pm10": 43.1}


def test_bad_checksum_raises_and_recovers():
    clock, uart, drv = _setup()
    uart.fault("checksum")
    with raises(ChecksumError):
        drv.read()
    uart.fault(None)
    assert "pm2_5" in drv.read()


def test_silent_sensor_times_out_within_its_limit():
    clock, uart, drv = _setup()
    uart.fault("nack")
    t0 = clock.ticks_ms()
    with raises(SensorTimeout):
        drv.read()
    assert clock.ticks_diff(clock.ticks_ms(), t0) <= 1500 + 20


def test_asleep_fault_is_ended_by_wake():
    clock, uart, drv = _setup()
    uart.fault("asleep")
    with raises(SensorTimeout):
        drv.read()
    drv.wake()
    clock.advance(SDS011.WARMUP_MS)
    assert "pm2_5" in drv.read()


def test_a_failing_port_is_a_typed_error():
    class _Unplugged(_Line):
        def any(self):
            raise OSError(5, "device disconnected")

    drv = SDS011(_Unplugged(b""), clock=VirtualClock())
    with raises(SensorError):
        drv.read()
