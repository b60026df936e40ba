"""firmware/board.py's RTC-memory slots (the rest of BoardHAL needs a real `machine`)."""

from firmware.board import RTCSlots


class RTC:
    def __init__(self):
        self.mem = b""

    def memory(self, data=None):
        if data is None:
            return self.mem
        self.mem = bytes(data)


def test_slots_share_rtc_memory_without_overwriting_each_other():
    rtc = RTC()
    s = RTCSlots(rtc, 2048)
    s.save("datalog", b"\x01\x02")
    s.save("app", b'{"joined": true}')
    s.save("datalog", b"\x03")
    assert s.load("datalog") == b"\x03" and s.load("app") == b'{"joined": true}'
    assert s.load("crashes") is None


def test_full_and_garbled_memory():
    rtc = RTC()
    s = RTCSlots(rtc, 16)
    try:
        s.save("app", bytes(20))
        raise AssertionError("no error")
    except OSError:
        pass
    rtc.mem = b"\x09garbage"
    assert s.load("app") is None
