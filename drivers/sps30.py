# Sensirion SPS30 particulate matter sensor over I2C (SEL pin to GND).
# Facts: SPS30 datasheet (v1.0, 2020) §6.1 address 0x69, §6.2 word/CRC framing, §6.3 command
# table with execution times, §6.3.1 start argument 0x0300 (big-endian IEEE-754 floats),
# §6.3.2/6.3.9 sleep and the double wake-up, §4.5 new values every second, Table 1 start-up
# time 8-30 s (the lower the concentration, the longer), §4.3 fan cleaning lasts 10 s.
from micropython import const

from drivers.errors import NotReady, SensorError, SensorTimeout
from drivers.sensirion import SensirionI2C
from drivers.warmup import Warmup

ADDRESS = const(0x69)
_START = const(0x0010)  # arg 0x0300, 20 ms
_FLOAT_FORMAT = const(0x0300)
_STOP = const(0x0104)  # 20 ms
_DATA_READY = const(0x0202)
_READ_VALUES = const(0x0300)  # 10 floats: mass PM1/2.5/4/10, number PM0.5/1/2.5/4/10, typical size
_SLEEP = const(0x1001)  # 5 ms, from idle only
_WAKE = const(0x1103)  # 5 ms, sent twice: the first only wakes the interface (NACKed)
_CLEAN_FAN = const(0x5607)  # 5 ms, measuring only; cleaning runs 10 s
_SERIAL = const(0xD033)  # 32 ASCII chars in 16 words
_RESET = const(0xD304)  # 100 ms
_CMD_MS = const(20)
_SHORT_MS = const(5)
_READY_POLL_MS = const(100)
_READY_WAIT_MS = const(1100)  # one measurement interval (1 s) plus margin


class SPS30:
    """SPS30(i2c, address=0x69, clock=None). No bus traffic in the constructor.

    wake() wakes the sensor and starts measuring; read() is valid WARMUP_MS later; sleep() stops
    measuring and puts it to sleep. After each read, .numbers holds the number concentrations
    (#/cm³ for PM0.5, PM1, PM2.5, PM4, PM10) and .typical_size the typical particle size (µm).
    """

    WARMUP_MS = 30000  # Table 1: 30 s covers the slowest case (clean air, 50-100 #/cm³)

    def __init__(self, i2c, address=ADDRESS, clock=None):
        self._bus = SensirionI2C(i2c, address, 20, clock, "SPS30")
        self._clock = self._bus.clock
        self._measuring = None  # unknown until this driver starts or stops it
        self._warmup = Warmup(self._clock, self.WARMUP_MS)
        self.numbers = [0.0, 0.0, 0.0, 0.0, 0.0]
        self.typical_size = 0.0

    def start(self):
        self._bus.command(_START, 2, _FLOAT_FORMAT, _CMD_MS)
        self._measuring = True
        self._warmup.begin()

    def stop(self):
        self._bus.command(_STOP, 2, None, _CMD_MS)
        self._measuring = False

    def ready_in_ms(self):
        """Milliseconds until readings are valid after wake(); 0 when ready."""
        return self._warmup.left_ms()

    def data_ready(self):
        self._bus.command(_DATA_READY, 2, None, 0)
        self._bus.read_words(1)
        return self._bus.word(0) & 1 == 1

    def read(self):
        """{'pm1', 'pm2_5', 'pm4', 'pm10'} in µg/m³ from the next measurement (≤ 1.1 s wait)."""
        if self._measuring is False:
            raise NotReady("SPS30: not measuring, call wake()")
        self._warmup.require_ready("SPS30")
        waited = 0
        while not self.data_ready():
            if waited >= _READY_WAIT_MS:
                raise SensorTimeout("SPS30: no new measurement within %d ms" % _READY_WAIT_MS)
            self._clock.sleep_ms(_READY_POLL_MS)
            waited += _READY_POLL_MS
        bus = self._bus
        bus.command(_READ_VALUES, 2, None, 0)
        bus.read_words(20)
        nums = self.numbers
        for i in range(5):
            nums[i] = bus.float(8 + 2 * i)
        self.typical_size = bus.float(18)
        return {"pm1": bus.float(0), "pm2_5": bus.float(2), "pm4": bus.float(4), "pm10": bus.float(6)}

    def sleep(self):
        """Stop measuring and sleep (the interface is off until wake())."""
        if self._measuring is not False:
            self.stop()
        self._bus.command(_SLEEP, 2, None, _SHORT_MS)
        self._warmup.cancel()

    def wake(self):
        """Wake the interface (the first command is NACKed by design), then start measuring."""
        try:
            self._bus.command(_WAKE, 2, None, 0)
        except SensorError:  # the NACK of the wake pulse is expected
            pass
        self._bus.command(_WAKE, 2, None, _SHORT_MS)
        self.start()

    def clean_fan(self):
        """Run the fan at full speed for 10 s to blow out dust (only while measuring)."""
        if not self._measuring:
            raise NotReady("SPS30: fan cleaning needs measurement mode")
        self._bus.command(_CLEAN_FAN, 2, None, _SHORT_MS)

    def serial_number(self):
        bus = self._bus
        bus.command(_SERIAL, 2, None, 0)
        bus.read_words(16)
        chars = []
        for i in range(16):
            w = bus.word(i)
            for c in (w >> 8, w & 0xFF):
                if c == 0:
                    return "".join(chars)
                chars.append(chr(c))
        return "".join(chars)

    def reset(self):
        self._bus.command(_RESET, 2, None, 100)
        self._measuring = False
