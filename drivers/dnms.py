# Sensor.Community DNMS (Digital Noise Measurement Sensor, Teensy + MEMS microphone) over I2C.
# Facts: the DNMS firmware's I2C interface (github.com/hbitter/DNMS, dnms_i2c source): address
# 0x55, Sensirion-style 16-bit commands and CRC-8 words; 0x0001 reset, 0x0002 read version
# ("DNMS..." string), 0x0003 calculate LEQ (closes the interval since the previous one),
# 0x0004 read data-ready (one word, non-zero when ready), 0x0005 read LEQ: LAeq, LAmin, LAmax
# as big-endian IEEE-754 floats, two CRC-checked words each.
from micropython import const

from drivers.errors import NotPresent, SensorTimeout
from drivers.sensirion import SensirionI2C

ADDRESS = const(0x55)
_RESET = const(0x0001)
_VERSION = const(0x0002)
_CALC_LEQ = const(0x0003)
_DATA_READY = const(0x0004)
_READ_LEQ = const(0x0005)
_VERSION_WORDS = const(9)  # 18 characters: the shortest version buffer of the firmware releases
_POLL_MS = const(10)
_READY_WAIT_MS = const(500)  # the firmware gives no figure; it computes in well under this


class DNMS:
    """DNMS(i2c, address=0x55, clock=None). No bus traffic in the constructor.

    read() closes the current interval: LAeq, LAmin and LAmax cover the time since the previous
    read() (or since power-up/reset), so call it once per measurement interval.
    """

    WARMUP_MS = 0  # always listening; the first interval starts at power-up

    def __init__(self, i2c, address=ADDRESS, clock=None):
        self._bus = SensirionI2C(i2c, address, _VERSION_WORDS, clock, "DNMS")
        self._clock = self._bus.clock

    def read(self):
        """{'laeq', 'lamin', 'lamax'} in dB(A) over the interval since the previous read()."""
        bus = self._bus
        bus.command(_CALC_LEQ, 2, None, 0)
        waited = 0
        while True:
            bus.command(_DATA_READY, 2, None, 0)
            bus.read_words(1)
            if bus.word(0):
                break
            if waited >= _READY_WAIT_MS:
                raise SensorTimeout("DNMS: LEQ not ready within %d ms" % _READY_WAIT_MS)
            self._clock.sleep_ms(_POLL_MS)
            waited += _POLL_MS
        bus.command(_READ_LEQ, 2, None, 0)
        bus.read_words(6)
        return {"laeq": bus.float(0), "lamin": bus.float(2), "lamax": bus.float(4)}

    def version(self):
        """The firmware's version string; NotPresent if the device is not a DNMS."""
        bus = self._bus
        bus.command(_VERSION, 2, None, 0)
        bus.read_words(_VERSION_WORDS)
        chars = []
        for i in range(_VERSION_WORDS):
            w = bus.word(i)
            for c in (w >> 8, w & 0xFF):
                if c == 0:
                    break
                chars.append(chr(c))
            else:
                continue
            break
        text = "".join(chars)
        if not text.startswith("DNMS"):
            raise NotPresent("DNMS: unexpected version %r" % text)
        return text

    def reset(self):
        self._bus.command(_RESET, 2, None, 0)

    def sleep(self):
        """The DNMS has no sleep mode: nothing to send."""

    def wake(self):
        """Nothing to send: see sleep()."""
