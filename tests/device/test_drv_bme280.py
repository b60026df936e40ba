from drivers.bme280 import BME280, compensate_h, compensate_p, compensate_t, measurement_time_ms, parse_calibration
from drivers.errors import NotPresent, SensorError
from edge.clock import VirtualClock
from simulator.devices.bme280 import EXAMPLE_CALIBRATION, BME280Emulator
from simulator.devices.i2c import VirtualI2C
from tests.device.mptest import raises


def _setup(**emu_kw):
    clock = VirtualClock()
    i2c = VirtualI2C()
    emu = i2c.attach(BME280Emulator(clock=clock, **emu_kw))
    return clock, emu, BME280(i2c, clock=clock)


def test_bosch_worked_example_temperature_and_pressure():
    # BMP280 datasheet §3.12: adc_T 519888 -> t_fine 128422, T 25.08 °C; adc_P 415148 -> 100653.27 Pa
    cal = EXAMPLE_CALIBRATION
    t_fine, t = compensate_t(cal, 519888)
    assert t_fine == 128422 and t == 2508
    p = compensate_p(cal, 415148, t_fine)
    # the datasheet's 100653.27 comes from the double formula with the unrounded t_fine; the
    # int64 formula lands within its 1/256 Pa step of quantisation plus the t_fine rounding
    assert abs(p / 256 - 100653.27) < 0.02


def test_humidity_compensation_is_clamped():
    cal = EXAMPLE_CALIBRATION
    assert compensate_h(cal, 0, 128422) == 0
    assert compensate_h(cal, 0xFFFF, 128422) == 419430400 >> 12  # 100 %RH


def test_packed_signed_h4_h5():
    # H4 = -12 and H5 = -50 share register 0xE5; both are signed 12-bit values
    cal = dict(EXAMPLE_CALIBRATION)
    cal["H4"] = -12
    cal["H5"] = -50
    clock, emu, drv = _setup(calibration=cal)
    assert drv.calibration["H4"] == -12 and drv.calibration["H5"] == -50
    assert drv.calibration["T3"] == -1000 and drv.calibration["P8"] == -14600
    emu.set(humidity=63.0)
    assert abs(drv.read()["humidity"] - 63.0) < 0.02


def test_parse_calibration_byte_layout():
    c1 = bytearray(26)
    c1[0], c1[1] = 0x70, 0x6B  # T1 = 0x6B70 = 27504
    c1[2], c1[3] = 0x18, 0xFC  # T2 = -1000
    c2 = bytes((0x6A, 0x01, 0x00, 0x13, 0x29, 0x03, 0x1E))
    cal = parse_calibration(c1, c2)
    assert cal["T1"] == 27504 and cal["T2"] == -1000
    assert cal["H2"] == 362 and cal["H4"] == 0x139 and cal["H5"] == 0x32 and cal["H6"] == 30


def test_forced_mode_round_trip():
    clock, emu, drv = _setup()
    emu.set(temperature=25.08, pressure=100653.0, humidity=40.0)
    t0 = clock.ticks_ms()
    r = drv.read()
    assert clock.ticks_diff(clock.ticks_ms(), t0) == measurement_time_ms(1, 1, 1) == 10
    assert abs(r["temperature"] - 25.08) < 0.011
    assert abs(r["pressure"] - 100653.0) < 3.5
    assert abs(r["humidity"] - 40.0) < 0.02
    assert emu.regs[0xF4] & 3 == 0  # back in sleep mode


def test_wrong_chip_id_and_absent_chip():
    clock = VirtualClock()
    i2c = VirtualI2C()
    i2c.attach(BME280Emulator(clock=clock, chip_id=0x55))
    with raises(NotPresent):
        BME280(i2c, clock=clock)
    with raises(NotPresent):
        BME280(VirtualI2C(), clock=clock)


def test_bmp280_has_no_humidity():
    clock, emu, drv = _setup(chip_id=0x58)
    r = drv.read()
    assert "humidity" not in r and "pressure" in r


def test_nack_fault_is_typed():
    clock, emu, drv = _setup()
    emu.fault("nack")
    with raises(SensorError):
        drv.read()
    emu.fault(None)
    assert "pressure" in drv.read()


def test_reset_restores_calibration():
    clock, emu, drv = _setup()
    drv.reset()
    assert emu.regs[0xD0] == 0x60 and emu.regs[0x88] == 27504 & 0xFF
    with raises(ValueError):
        BME280(VirtualI2C(), oversampling=(3, 1, 1))
