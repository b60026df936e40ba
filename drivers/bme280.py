# Bosch BME280 (and BMP280, without humidity) over I2C, forced mode.
# Facts: BME280 datasheet BST-BME280-DS002 §3.3.3 forced mode, §3.5.1 weather-monitoring settings,
# §4.2.2 calibration table, §4.2.3 and §8.2 integer compensation, §5.3/5.4 register map,
# §9.1 measurement time; BMP280 datasheet §3.12 worked example (T = 25.08 °C, p = 100653.27 Pa).
from micropython import const

from drivers.errors import NotPresent, SensorTimeout, bus_error
from edge.clock import SystemClock

ADDRESS = const(0x76)  # SDO to GND; 0x77 with SDO high (§6.2)
CHIP_ID_BME280 = const(0x60)  # §5.4.1
CHIP_ID_BMP280 = const(0x58)

_REG_CALIB00 = const(0x88)  # 0x88..0xA1, 26 bytes (§4.2.2)
_REG_CALIB26 = const(0xE1)  # 0xE1..0xE7, 7 bytes
_REG_ID = const(0xD0)
_REG_RESET = const(0xE0)
_RESET_WORD = const(0xB6)
_REG_CTRL_HUM = const(0xF2)  # takes effect only after a write to ctrl_meas (§5.4.3)
_REG_STATUS = const(0xF3)
_STATUS_MEASURING = const(0x08)
_REG_CTRL_MEAS = const(0xF4)
_REG_DATA = const(0xF7)  # press[3], temp[3], hum[2], burst-read together (§4)
_MODE_FORCED = const(0x01)
_SKIPPED = const(0x80000)  # adc value of a quantity that was not measured
_POLL_MS = const(2)
_POLLS = const(5)


def _s16(lo, hi):
    v = lo | (hi << 8)
    return v - 0x10000 if v & 0x8000 else v


def _s8(v):
    return v - 0x100 if v & 0x80 else v


def measurement_time_ms(osrs_t, osrs_p, osrs_h):
    """Max measurement time (§9.1) for oversampling factors (0 = skipped), rounded up."""
    us = 1250 + 2300 * osrs_t
    if osrs_p:
        us += 2300 * osrs_p + 575
    if osrs_h:
        us += 2300 * osrs_h + 575
    return (us + 999) // 1000


def parse_calibration(c1, c2):
    """The 18 trimming values from calib00..25 (c1) and calib26..32 (c2), §4.2.2."""
    cal = {
        "T1": c1[0] | (c1[1] << 8),
        "T2": _s16(c1[2], c1[3]),
        "T3": _s16(c1[4], c1[5]),
        "P1": c1[6] | (c1[7] << 8),
    }
    for i in range(2, 10):
        cal["P%d" % i] = _s16(c1[4 + 2 * i], c1[5 + 2 * i])
    cal["H1"] = c1[25]
    if c2 is not None:
        cal["H2"] = _s16(c2[0], c2[1])
        cal["H3"] = c2[2]
        # H4 and H5 are signed 12-bit values sharing 0xE5: H4 = E4[7:0].E5[3:0], H5 = E6[7:0].E5[7:4]
        cal["H4"] = (_s8(c2[3]) << 4) | (c2[4] & 0x0F)
        cal["H5"] = (_s8(c2[5]) << 4) | (c2[4] >> 4)
        cal["H6"] = _s8(c2[6])
    return cal


def compensate_t(cal, adc_t):
    """-> (t_fine, temperature in 0.01 °C), §4.2.3 int32 formula."""
    t1 = cal["T1"]
    var1 = (((adc_t >> 3) - (t1 << 1)) * cal["T2"]) >> 11
    x = (adc_t >> 4) - t1
    var2 = (((x * x) >> 12) * cal["T3"]) >> 14
    t_fine = var1 + var2
    return t_fine, (t_fine * 5 + 128) >> 8


def compensate_p(cal, adc_p, t_fine):
    """Pressure in Pa as Q24.8 (divide by 256), §8.2 int64 formula; 0 when calibration is unusable."""
    var1 = t_fine - 128000
    var2 = var1 * var1 * cal["P6"]
    var2 += (var1 * cal["P5"]) << 17
    var2 += cal["P4"] << 35
    var1 = ((var1 * var1 * cal["P3"]) >> 8) + ((var1 * cal["P2"]) << 12)
    var1 = (((1 << 47) + var1) * cal["P1"]) >> 33
    if var1 == 0:
        return 0
    p = 1048576 - adc_p
    num = ((p << 31) - var2) * 3125
    p = abs(num) // abs(var1)  # C's int64 division truncates toward zero
    if (num < 0) != (var1 < 0):
        p = -p
    var1 = (cal["P9"] * (p >> 13) * (p >> 13)) >> 25
    var2 = (cal["P8"] * p) >> 19
    return ((p + var1 + var2) >> 8) + (cal["P7"] << 4)


def compensate_h(cal, adc_h, t_fine):
    """Humidity in %RH as Q22.10 (divide by 1024), §4.2.3 int32 formula."""
    v = t_fine - 76800
    a = (adc_h << 14) - (cal["H4"] << 20) - cal["H5"] * v + 16384
    b = ((((v * cal["H6"]) >> 10) * (((v * cal["H3"]) >> 11) + 32768)) >> 10) + 2097152
    v = (a >> 15) * ((b * cal["H2"] + 8192) >> 14)
    v -= ((((v >> 15) * (v >> 15)) >> 7) * cal["H1"]) >> 4
    v = 0 if v < 0 else (419430400 if v > 419430400 else v)
    return v >> 12


class BME280:
    """BME280(i2c, address=0x76, oversampling=(1, 1, 1), clock=None).

    The constructor checks the chip id (NotPresent otherwise) and reads the calibration once.
    oversampling is (temperature, pressure, humidity), each 1, 2, 4, 8 or 16; the default is the
    datasheet's weather-monitoring setting (§3.5.1). A BMP280 works too, without humidity.
    """

    WARMUP_MS = 0  # forced mode: each read() is a complete measurement (§3.3.3)
    _OSRS_CODE = {1: 1, 2: 2, 4: 3, 8: 4, 16: 5}

    def __init__(self, i2c, address=ADDRESS, oversampling=(1, 1, 1), clock=None):
        self._i2c = i2c
        self._addr = address
        self._clock = clock if clock is not None else SystemClock()
        codes = self._OSRS_CODE
        if len(oversampling) != 3 or any(o not in codes for o in oversampling):
            raise ValueError("oversampling factors are 1, 2, 4, 8 or 16")
        self._buf = bytearray(26)
        self._one = bytearray(1)
        self._data = bytearray(8)
        self._read_into(_REG_ID, self._one)
        chip = self._one[0]
        if chip not in (CHIP_ID_BME280, CHIP_ID_BMP280):
            raise NotPresent("BME280: chip id 0x%02x is not a BME280/BMP280" % chip)
        self.has_humidity = chip == CHIP_ID_BME280
        self._read_into(_REG_CALIB00, self._buf)
        c2 = None
        if self.has_humidity:
            c2 = bytearray(7)
            self._read_into(_REG_CALIB26, c2)
        self.calibration = parse_calibration(self._buf, c2)
        if self.calibration["T1"] == 0 or self.calibration["P1"] == 0:
            raise NotPresent("BME280: calibration reads as zero")
        ot, op, oh = oversampling
        self._ctrl_hum = codes[oh] if self.has_humidity else 0
        self._ctrl_meas = (codes[ot] << 5) | (codes[op] << 2) | _MODE_FORCED
        self._wait_ms = measurement_time_ms(ot, op, oh if self.has_humidity else 0)

    def _read_into(self, reg, buf):
        try:
            self._i2c.readfrom_mem_into(self._addr, reg, buf)
        except OSError as e:
            raise bus_error(e, "BME280") from None

    def _write(self, reg, value):
        self._one[0] = value
        try:
            self._i2c.writeto_mem(self._addr, reg, self._one)
        except OSError as e:
            raise bus_error(e, "BME280") from None

    def read(self):
        """One forced-mode measurement: {'temperature': °C, 'pressure': Pa, 'humidity': %RH}."""
        if self.has_humidity:
            self._write(_REG_CTRL_HUM, self._ctrl_hum)
        self._write(_REG_CTRL_MEAS, self._ctrl_meas)
        self._clock.sleep_ms(self._wait_ms)
        for _ in range(_POLLS):
            self._read_into(_REG_STATUS, self._one)
            if not self._one[0] & _STATUS_MEASURING:
                break
            self._clock.sleep_ms(_POLL_MS)
        else:
            raise SensorTimeout("BME280: still measuring after %d ms" % (self._wait_ms + _POLLS * _POLL_MS))
        d = self._data
        self._read_into(_REG_DATA, d)
        adc_p = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4)
        adc_t = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4)
        adc_h = (d[6] << 8) | d[7]
        if adc_t == _SKIPPED or adc_p == _SKIPPED:
            raise SensorTimeout("BME280: no measurement in the data registers")
        cal = self.calibration
        t_fine, t = compensate_t(cal, adc_t)
        out = {"temperature": t / 100.0, "pressure": compensate_p(cal, adc_p, t_fine) / 256.0}
        if self.has_humidity:
            out["humidity"] = compensate_h(cal, adc_h, t_fine) / 1024.0
        return out

    def reset(self):
        self._write(_REG_RESET, _RESET_WORD)
        self._clock.sleep_ms(2)  # start-up time after reset, 2 ms (§1, Table 1)

    def sleep(self):
        """Forced mode returns to sleep by itself after each measurement."""

    def wake(self):
        """Nothing to send: see sleep()."""
