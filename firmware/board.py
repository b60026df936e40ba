# The HAL of a real board (firmware/app.py lists what a HAL gives), built from MicroPython's
# `machine` module and the board's wiring file hw/boards/<name>.json. `machine` is passed in, so
# this module imports nothing board-specific and compiles everywhere.
import struct
import time

from edge.clock import SystemClock

_EPOCH_2000 = 946684800  # ports whose RTC counts from 2000-01-01 (time.gmtime(0)[0] == 2000)


class RTCSlots:
    """Named slots in the RTC memory (machine.RTC().memory(), 2 KB on ESP32): kept across deep
    sleep and reset, lost with power. Layout: per slot [name length u8][name][data length u16][data]."""

    def __init__(self, rtc, size):
        self._rtc = rtc
        self.size = size

    def _all(self):
        try:
            raw = self._rtc.memory()
        except (OSError, AttributeError):
            return {}
        out = {}
        pos = 0
        while pos + 3 <= len(raw):
            n = raw[pos]
            if n == 0 or pos + 1 + n + 2 > len(raw):
                break
            name = bytes(raw[pos + 1 : pos + 1 + n]).decode()
            ln = struct.unpack_from("<H", raw, pos + 1 + n)[0]
            start = pos + 3 + n
            if start + ln > len(raw):
                break
            out[name] = bytes(raw[start : start + ln])
            pos = start + ln
        return out

    def load(self, name):
        return self._all().get(name)

    def save(self, name, data):
        slots = self._all()
        slots[name] = data
        buf = bytearray()
        for k in slots:
            kb = k.encode()
            buf.append(len(kb))
            buf.extend(kb)
            buf.extend(struct.pack("<H", len(slots[k])))
            buf.extend(slots[k])
        if len(buf) > self.size:
            raise OSError("RTC memory full")
        self._rtc.memory(bytes(buf))


class _Slot:
    def __init__(self, slots, name):
        self._slots = slots
        self._name = name

    def load(self):
        return self._slots.load(self._name)

    def save(self, data):
        self._slots.save(self._name, data)


class BoardHAL:
    def __init__(self, board, machine):
        self.board = board
        self.machine = machine
        self.clock = SystemClock()
        self.irq_guard = None  # drivers use machine.disable_irq themselves
        self.can_deep_sleep = board.get("sleep") == "deep"
        self._rtc = machine.RTC()
        size = board.get("rtc_memory_bytes", 0)
        self._slots = RTCSlots(self._rtc, size) if size else None
        self._i2c = {}
        self._uart = {}
        self._pins = {}
        self._wdt = None

    def i2c(self, name):
        if name not in self._i2c:
            b = self.board["i2c"][name]
            m = self.machine
            self._i2c[name] = m.I2C(b["id"], scl=m.Pin(b["scl"]), sda=m.Pin(b["sda"]), freq=b["freq"])
        return self._i2c[name]

    def uart(self, name):
        if name not in self._uart:
            u = self.board["uart"][name]
            m = self.machine
            self._uart[name] = m.UART(u["id"], baudrate=u["baud"], tx=m.Pin(u["tx"]), rx=m.Pin(u["rx"]), timeout=0)
        return self._uart[name]

    def pin(self, name):
        if name not in self._pins:
            m = self.machine
            self._pins[name] = m.Pin(self.board["pins"][name], m.Pin.IN, m.Pin.PULL_UP)
        return self._pins[name]

    def stash(self, name):
        return _Slot(self._slots, name) if self._slots is not None else None

    def wdt_start(self, ms):
        self._wdt = self.machine.WDT(timeout=min(ms, self.board.get("wdt_max_ms", ms)))

    def wdt_feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def sleep_ms(self, ms):
        light = getattr(self.machine, "lightsleep", None)
        if light is not None and ms >= 10:
            light(ms)
        else:
            self.clock.sleep_ms(ms)

    def deep_sleep(self, ms):
        self.machine.deepsleep(ms)  # the board restarts in main.py

    def set_time(self, unix_s):
        offset = _EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0
        y, mo, d, h, mi, s, wd, _ = time.gmtime(unix_s - offset)
        self._rtc.datetime((y, mo, d, wd, h, mi, s, 0))  # machine.RTC.datetime order

    def reset(self):
        self.machine.reset()

    def log(self, text):
        print(text)
