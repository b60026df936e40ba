from edge import downlink
from tests.device.mptest import raises


def test_round_trip_of_every_command():
    cmds = [("ack", 120), ("resend", 90, 5), ("set_interval", 300), ("time_sync", 1763800000), ("reboot",)]
    data = downlink.encode(cmds)
    assert data[:5] == b"\x01\x78\x00\x00\x00"
    assert len(data) == 5 + 7 + 3 + 5 + 2
    assert downlink.decode(data) == cmds


def test_byte_layout_of_resend():
    assert downlink.encode([("resend", 0x01020304, 0x0506)]) == b"\x02\x04\x03\x02\x01\x06\x05"


def test_malformed_downlinks_raise():
    bad = (b"", b"\x01\x00", b"\x09\x00", b"\x05\x00", b"\x02\x00\x00\x00\x00\x00\x00", b"\x03\x05\x00")
    for data in bad:
        with raises(downlink.DownlinkError):
            downlink.decode(data)
    with raises(downlink.UnknownCommand):
        downlink.decode(b"\x01\x00\x00\x00\x00\x7f")


def test_invalid_commands_are_refused_when_encoding():
    bad = (("nope",), ("ack", -1), ("resend", 1, 0), ("set_interval", 2), ("ack", 2**32), ("ack",), ("ack", 1.5))
    for cmd in bad:
        with raises(downlink.DownlinkError):
            downlink.encode([cmd])
