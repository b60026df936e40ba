"""A per-node virtual HAL: what firmware/board.py gives the node application on a board, for one
virtual node in the simulator or a test. Many of them live in one process; nothing is global.

    clock = VirtualClock()
    hal = VirtualHAL(clock, load_board("esp32-devkitc"), modem=LoRaE5Emulator(clock, radio=...))
    hal.i2c("0").attach(SHT4xEmulator(clock=clock))       # I2C buses are simulator.devices VirtualI2C
    hal.attach_uart("pm", SDS011Emulator(clock=clock))      # UART emulators are the UART
    node = Node(hal, cfg, data_dir)                          # firmware.app.Node
    node.run_interval()                                      # one interval; the clock moves by it

Per node: an RTC (``hal.clock``: the shared clock plus this node's offset, moved by time sync),
RTC-memory stashes that survive ``reset()`` and deep sleep but not ``power_loss()``, and a
watchdog: started with ``wdt_start(ms)``, it bites when the clock passes the deadline without a
feed; the node's next HAL call then raises ``NodeReset("watchdog")``, as the chip would reset.
``reset()`` raises ``NodeReset("reset")``: the caller builds a new Node on the same HAL, as a
board runs main.py again.

Not modelled: real sleep currents, clock drift (add an offset with ``hal.clock.set_time``),
flash wear and the filesystem's own power-loss behaviour (the datalog tests cut writes instead).
"""

from __future__ import annotations

from typing import Any

from edge.clock import VirtualClock
from simulator.devices.i2c import VirtualI2C
from simulator.devices.pins import IrqGuard, VirtualPin

_TICKS_PERIOD = 1 << 29  # MicroPython's ticks_ms wraps here (edge.clock)
_TICKS_HALF = 1 << 28


class NodeReset(Exception):
    """The node restarts (reset command, watchdog); .reason says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NodeClock:
    """One node's clock on a shared VirtualClock: it never runs behind the shared time, and the
    node's own short waits (sensor measurement times, AT command answers) move only this node
    ahead, so a thousand nodes can share one time line. Its RTC has its own offset (time sync).
    Driver emulators and the modem emulator of this node take this clock."""

    def __init__(self, base: Any) -> None:
        self.base = base
        self._base_ms = base.monotonic_ms  # bound once: drivers and emulators ask the time constantly
        self._virtual = base if isinstance(base, VirtualClock) else None  # its _ms read directly
        self._ms = int(base.monotonic_ms())
        self._unix0 = int(base.time()) - self._ms // 1000
        self.offset_s = 0

    def monotonic_ms(self) -> int:
        v = self._virtual
        b = v._ms if v is not None else self._base_ms()
        if b > self._ms:
            self._ms = b
        return self._ms

    def sleep_ms(self, ms: int) -> None:
        if ms > 0:
            self._ms = self.monotonic_ms() + int(ms)

    # MicroPython's ticks arithmetic (edge.clock), inline: these run millions of times a simulated day.
    def ticks_ms(self) -> int:
        # monotonic_ms() inline: over half its calls (1.6 M of 2.7 M an hour of dense-city) come here;
        # the copy saves 0.9 % of the fleet's instructions (callgrind, 0.25 h: 16.00 G -> 15.86 G)
        v = self._virtual
        b = v._ms if v is not None else self._base_ms()
        if b > self._ms:
            self._ms = b
        return self._ms % _TICKS_PERIOD

    def ticks_diff(self, a: int, b: int) -> int:
        return ((a - b + _TICKS_HALF) % _TICKS_PERIOD) - _TICKS_HALF

    def ticks_add(self, t: int, ms: int) -> int:
        return (t + ms) % _TICKS_PERIOD

    def time(self) -> int:
        return self._unix0 + self.monotonic_ms() // 1000 + self.offset_s

    def set_time(self, unix_s: int) -> None:
        self.offset_s = unix_s - (self._unix0 + self.monotonic_ms() // 1000)


class Stash:
    """One RTC-memory slot."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: bytes | None = None
        self.writes = 0

    def load(self) -> bytes | None:
        return self.data

    def save(self, data: bytes) -> None:
        if len(data) > self.size:
            raise OSError("RTC memory slot of %d bytes cannot hold %d" % (self.size, len(data)))
        self.data = bytes(data)
        self.writes += 1


class VirtualHAL:
    def __init__(self, clock: Any, board: dict, modem: Any = None) -> None:
        """clock: the shared VirtualClock; modem: the UART on "modem" (a LoRaE5Emulator on hal.clock,
        or attach it later with attach_uart("modem", ...))."""
        self.board = board
        self.clock = NodeClock(clock)
        self._i2c: dict[str, VirtualI2C] = {}
        self._uart: dict[str, Any] = {}
        self._pins: dict[str, VirtualPin] = {}
        self.irq_guard = IrqGuard()
        if modem is not None:
            self._uart["modem"] = modem
        self.modem = modem
        self.can_deep_sleep = board.get("sleep") == "deep"
        self.deep_sleeps = 0
        rtc = int(board.get("rtc_memory_bytes", 0))
        # split like firmware/board.py does: the datalog batch and the loop state
        self._stashes = {"datalog": Stash(rtc // 2), "app": Stash(rtc // 2)} if rtc else {}
        self.wdt_ms = 0
        self._wdt_deadline: int | None = None
        self._bitten = False
        self.wdt_bites = 0
        self.resets = 0
        self.sleeps_ms = 0
        self.lines: list[str] = []

    # ---- buses ----

    def i2c(self, name: str) -> VirtualI2C:
        self._check()
        if name not in self.board.get("i2c", {}):
            raise ValueError("board %s has no I2C bus %s" % (self.board["name"], name))
        if name not in self._i2c:
            self._i2c[name] = VirtualI2C()
        return self._i2c[name]

    def attach_uart(self, name: str, uart: Any) -> Any:
        self._uart[name] = uart
        if name == "modem":
            self.modem = uart
        return uart

    def uart(self, name: str) -> Any:
        self._check()
        if name not in self._uart:
            raise OSError("nothing on UART %s" % name)
        return self._uart[name]

    def pin(self, name: str) -> VirtualPin:
        self._check()
        if name not in self.board.get("pins", {}):
            raise ValueError("board %s has no pin %s" % (self.board["name"], name))
        if name not in self._pins:
            self._pins[name] = VirtualPin(0, irq_guard=self.irq_guard)
        return self._pins[name]

    def stash(self, name: str) -> Stash | None:
        return self._stashes.get(name)

    # ---- watchdog, sleep, time, reset ----

    def _check(self) -> None:
        deadline = self._wdt_deadline
        if deadline is not None and self.clock.monotonic_ms() > deadline and not self._bitten:
            self._bitten = True
            self.wdt_bites += 1
        if self._bitten:
            self._bitten = False
            self._wdt_deadline = None
            raise NodeReset("watchdog")

    def wdt_start(self, ms: int) -> None:
        self.wdt_ms = ms
        self._wdt_deadline = self.clock.monotonic_ms() + ms

    def wdt_feed(self) -> None:
        if self._wdt_deadline is None and not self._bitten:
            return  # not started: nothing to check or feed
        self._check()
        if self._wdt_deadline is not None:
            self._wdt_deadline = self.clock.monotonic_ms() + self.wdt_ms

    def fed_at(self, ms: int) -> None:
        """The watchdog as if fed at ms (steps the simulator skipped because they did nothing else)."""
        if self._wdt_deadline is not None:
            self._wdt_deadline = ms + self.wdt_ms

    def sleep_ms(self, ms: int) -> None:
        self._check()
        self.sleeps_ms += ms
        self.clock.sleep_ms(ms)
        self._check()

    def deep_sleep(self, ms: int) -> None:
        """RAM is lost, RTC memory stays; the board wakes into main.py after ms."""
        self.deep_sleeps += 1
        self.clock.sleep_ms(ms)
        self._wdt_deadline = None
        raise NodeReset("deep_sleep")

    def set_time(self, unix_s: int) -> None:
        self.clock.set_time(unix_s)

    def reset(self) -> None:
        self.resets += 1
        self._wdt_deadline = None
        raise NodeReset("reset")

    def power_loss(self) -> None:
        """Power cut: RTC memory and the modem's session go; flash (files) stays."""
        for s in self._stashes.values():
            s.data = None
        self._wdt_deadline = None
        self._bitten = False
        if self.modem is not None and hasattr(self.modem, "power_off"):
            self.modem.power_off()
            self.modem.power_on()

    def log(self, text: str) -> None:
        self.lines.append(text)
