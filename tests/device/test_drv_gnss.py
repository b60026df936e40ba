from drivers.errors import ChecksumError, InvalidValue, NoFix, NotReady, SensorTimeout
from drivers.gnss import GNSS
from edge.clock import VirtualClock
from simulator.devices.gnss import GNSSEmulator
from tests.device.mptest import raises
from tests.device.test_drv_sds011 import _Line

# NMEA 0183 examples (the widely reproduced GPRMC/GPGGA pair of 1994-03-23 12:35:19 UTC)
RMC = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"
GGA = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n"


def _setup():
    clock = VirtualClock()
    emu = GNSSEmulator(clock=clock)
    return clock, emu, GNSS(emu, clock=clock)


def test_reference_sentences():
    drv = GNSS(_Line(RMC + GGA, silent_polls=1), clock=VirtualClock())
    r = drv.read()
    assert abs(r["latitude"] - (48 + 7.038 / 60)) < 1e-6
    assert abs(r["longitude"] - (11 + 31.0 / 60)) < 1e-6
    assert (drv.quality, drv.satellites, drv.hdop) == (1, 8, 0.9)
    assert drv.time == 764426119  # 1994-03-23T12:35:19Z


def test_a_wrong_checksum_is_refused():
    bad = GGA.replace(b"*47", b"*48")
    drv = GNSS(_Line(RMC + bad, silent_polls=1), clock=VirtualClock())
    with raises(ChecksumError):
        drv.read()


def test_sentences_of_different_seconds_never_pair():
    gga = b"$GPGGA,123520,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*4D\r\n"
    drv = GNSS(_Line(RMC + gga, silent_polls=1), clock=VirtualClock())
    with raises(SensorTimeout):
        drv.read()


def test_emulator_round_trip_south_west():
    clock, emu, drv = _setup()
    emu.set(latitude=-33.86785, longitude=-151.20732)
    clock.advance(5000)
    r = drv.read()
    assert abs(r["latitude"] + 33.86785) < 2e-6 and abs(r["longitude"] + 151.20732) < 2e-6
    assert drv.time == clock.time()  # UTC of the fix: the node dates its clock from it


def test_no_fix_is_not_a_position():
    clock, emu, drv = _setup()
    drv.read()
    emu.has_fix = False  # a street canyon
    with raises(NoFix):
        drv.read()
    assert drv.time is None
    assert issubclass(NoFix, NotReady)
    emu.has_fix = True
    assert "latitude" in drv.read()


def test_a_fix_with_a_corrupt_position_is_invalid():
    body = "GPGGA,123519,4867.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"  # 67 minutes
    s = 0
    for c in body:
        s ^= ord(c)
    gga = ("$%s*%02X\r\n" % (body, s)).encode()
    drv = GNSS(_Line(RMC + gga, silent_polls=1), clock=VirtualClock())
    with raises(InvalidValue):
        drv.read()


def test_overlong_and_foreign_sentences_are_ignored():
    junk = b"$" + b"A" * 100 + b"\r\n" + b"$PUBX,00*33\r\n"
    drv = GNSS(_Line(junk + RMC + GGA, silent_polls=1), clock=VirtualClock())
    assert drv.read()["latitude"] > 48
