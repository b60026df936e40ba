"""Virtual nodes: the real firmware (firmware.app.Node) on the virtual HAL of simulator/node_hal.py.

Per node: a VirtualHAL on the run's shared VirtualClock (its NodeClock never runs behind the shared
time), the driver emulators of simulator/devices/ on its I2C bus and UART, its counter pins, and
the LoRa-E5 modem emulator whose frames go to the runner's radio model.

``Fleet.run_until(ms)`` walks one time line: every node's next step (``Node.step()`` returns the ms
until it wants to run again) and every physical event (environment values set on the emulators
before each interval's sampling window, counter passages as pin edges at their own times) are
taken in time order, with the shared clock advanced to each, so a counter driver debounces real
edges and all nodes agree on time.

Faults: ``sensor_fault`` maps the scenario's crc/stuck/absent onto the emulator modes
checksum/stuck/nack. ``power(False)`` cuts the node: RTC memory and the modem session go, flash
stays, and the readings still waiting for their datalog batch are lost (reported to on_lost,
docs/firmware.md); ``power(True)`` boots a new firmware Node on the same HAL. ``NodeReset`` out of
a step (reboot command, watchdog, deep sleep) boots a new Node as main.py would.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from drivers import registry
from edge import payload, vocab
from edge.clock import VirtualClock
from firmware.app import _MODEM_POLL_MS
from firmware.app import Node as FirmwareApp
from firmware.config import Config
from gateway import lorawan
from simulator.devices import emulator_class
from simulator.devices.pins import PASSAGE_IN, PASSAGE_OUT
from simulator.environment import World
from simulator.modem.e5 import LoRaE5Emulator
from simulator.node_hal import NodeReset, VirtualHAL
from simulator.physics.world import UseCaseWorld
from simulator.scenario import FAULT_MODE, Scenario, firmware_config
from simulator.scenario import Node as NodeSpec

ROOT = Path(__file__).resolve().parents[1]

PULSE_MS = 20
_MODEM_RESULT = FirmwareApp._modem_result.__code__  # the firmware's poll loop of a running join or send
BEAM_STEP_MS = 100


@dataclass
class Wiring:
    """What the runner gives the nodes."""

    world: World
    sf: dict[str, int]  # spreading factor per node, from the radio model
    workdir: Path
    on_reading: Callable[..., None]  # (node, seq, t, values), and True after them for an event reading
    on_frame: Callable[[str, bytes, int, int, int, list[int], int], None]  # ..., seqs, TXPower index
    on_lost: Callable[[str, list[int], str], None]


_Entry = tuple[int, int, "Callable[[], None] | None", "FirmwareNode | None", int]


class FirmwareNode:
    """One node: HAL, emulators, modem and the firmware application."""

    def __init__(self, spec: NodeSpec, sc: Scenario, clock: VirtualClock, wiring: Wiring, fleet: Fleet) -> None:
        self.name = spec.name
        self.spec = spec
        self.sc = sc
        self.w = wiring
        self.fleet = fleet
        self.data_dir = str(wiring.workdir / "nodes" / spec.name)
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)  # the flash filesystem, made at provisioning
        self.cfg = self._config()
        self.hal = VirtualHAL(clock, self.cfg.board)
        self.clock = self.hal.clock  # this node's NodeClock
        if spec.rtc_offset_s:
            self.hal.set_time(self.clock.time() + spec.rtc_offset_s)  # an RTC nobody has set yet
        seed = random.Random("%d:modem:%s" % (sc.seed, spec.name)).randrange(1 << 30)
        self.modem = LoRaE5Emulator(self.clock, radio=self._radio, seed=seed)
        self.hal.attach_uart("modem", self.modem)
        self.hal.modem = self.modem  # power_loss() resets the modem's session
        self.emulators: dict[str, Any] = {}
        for s in spec.sensors:
            emulator = emulator_class(s)  # counters have none: their pins are driven here
            if emulator is not None:
                emu = emulator(clock=self.clock)
                if registry.bus(s) == "uart":
                    self.hal.attach_uart("pm", emu)
                else:
                    self.hal.i2c("0").attach(emu)
                self.emulators[s] = emu
        self.physics = fleet.world.for_node(spec)  # river, container, daylight, van: set on a grid of their own
        if self.physics is not None:
            self.physics.setup(self.emulators)
            self.physics.apply(self.emulators, float(sc.start_unix))
        self.powered = True
        self.app: FirmwareApp | None = None
        self.boots = 0
        self.last_seq = 0
        self._planned_index = 0
        self._beam_pins: tuple[Any, Any] | None = None
        # a passage in and out as (ms from its start, the beam state it sets), made once per node
        self._passages = tuple(
            tuple((j * BEAM_STEP_MS, partial(self._beam, a, b)) for j, (a, b) in enumerate(walk))
            for walk in (PASSAGE_IN, PASSAGE_OUT)
        )

    def _config(self) -> Config:
        return firmware_config(self.spec, self.data_dir, 12 - self.w.sf[self.name])

    # ---------------------------------------------------------------- the physical world

    def plan_next_interval(self) -> int:
        """Schedule the world's events of this node's next interval; the ms its planning is due again."""
        sc, iv = self.sc, self.spec.interval_s
        end_unix = (sc.start_unix // iv + 1 + self._planned_index) * iv
        self._planned_index += 1
        start_ms = max(0, (end_unix - iv - sc.start_unix) * 1000)
        end_ms = (end_unix - sc.start_unix) * 1000
        truth = self.w.world.sample(self.spec, end_unix - iv / 2, iv)
        self.fleet.at(start_ms, partial(self._set_values, truth), self)
        if self.physics is not None:
            for t in self.physics.times(max(sc.start_unix, end_unix - iv), end_unix):
                self.fleet.at(int((t - sc.start_unix) * 1000), partial(self.physics.apply, self.emulators, t), self)
        sensors = self.spec.sensors
        if "pulse_counter" not in sensors and "beam_counter" not in sensors:
            return end_ms  # no passages to place: the seeded generator below is theirs alone
        rng = random.Random("%d:pass:%s:%d" % (sc.seed, self.name, end_unix))
        span = max(1, end_ms - start_ms - 2000)  # passages end before the interval's count is read
        if "pulse_counter" in sensors:
            for _ in range(int(truth.get("count_in", 0))):
                t = start_ms + 1 + rng.randrange(span)
                self.fleet.at(t, partial(self._drive, "counter_a", 1), self)
                self.fleet.at(t + PULSE_MS, partial(self._drive, "counter_a", 0), self)
        if "beam_counter" in sensors:
            into, out = self._passages
            walks = [into] * int(truth.get("count_in", 0)) + [out] * int(truth.get("count_out", 0))
            rng.shuffle(walks)
            slot = span // (len(walks) + 1) if walks else span
            at = self.fleet.at
            for i, steps in enumerate(walks):  # one passage at a time, each in its own slot
                t = start_ms + (i + 1) * slot
                for dt, action in steps:
                    at(t + dt, action, self)
        return end_ms

    def _set_values(self, truth: dict[str, float]) -> None:
        for emu in self.emulators.values():
            emu.set(**{q: v for q, v in truth.items() if q in emu.QUANTITIES})

    def _drive(self, pin: str, level: int) -> None:
        if self.powered:
            self.hal.pin(pin).drive(level)

    def _beam(self, a: int, b: int) -> None:
        if self.powered:
            pins = self._beam_pins
            if pins is None:  # the HAL keeps its pins across resets and power cuts: looked up once
                pins = self._beam_pins = (self.hal.pin("counter_a"), self.hal.pin("counter_b"))
            pins[0].drive(a)  # drive() makes no edge when the level stays
            pins[1].drive(b)

    # ---------------------------------------------------------------- the firmware

    def boot(self) -> None:
        self.app = FirmwareApp(self.hal, self.cfg, self.data_dir)
        self.boots += 1

    def step_until(self, now_ms: int) -> int | None:
        """Run the firmware's steps due by now_ms; the ms of its next step (None while dark)."""
        if not self.powered:
            return None
        if self.app is None:
            self.boot()
        due = self.clock.monotonic_ms()
        while due <= now_ms:
            app = self.app
            assert app is not None
            try:
                wait = app.step()
            except NodeReset:
                self.boot()
                wait = 0
            ev = app.pending_event  # an event reading, made between two interval readings
            if ev is not None and ev.get("seq") is not None and ev["seq"] > self.last_seq:
                self._logged(ev, True)
            r = app.last_reading
            if r is not None and r.get("seq") is not None and r["seq"] > self.last_seq:
                self._logged(r)
            due = self.clock.monotonic_ms() + wait
            if wait == _MODEM_POLL_MS and self.fleet.skip_idle_polls:
                due = self._skip_idle_polls(app, due)
        return due

    def _skip_idle_polls(self, app: FirmwareApp, due: int) -> int:
        """The first of the firmware's modem polls (every _MODEM_POLL_MS while a join or send
        runs) that can find anything: the modem emulator knows when it next has a line to say or a
        receive window to judge, and the driver when its operation times out. The polls before that
        read nothing, and only fed the watchdog: that is done here, as the last of them would have."""
        g = app._gen
        while g is not None and g.gi_yieldfrom is not None:
            g = g.gi_yieldfrom
        if g is None or g.gi_code is not _MODEM_RESULT:
            return due
        driver, emu = app.modem, self.modem
        op = driver._op
        if op is None or op[0] == "done" or b"\n" in driver._buf or emu._out or not emu.powered:
            return due
        now = self.clock.monotonic_ms()
        limit = now + self.clock.ticks_diff(op[1], self.clock.ticks_ms())  # the driver's timeout
        change = emu.next_change_ms()
        if change is not None and change < limit:
            limit = change
        skip = -((due - limit) // _MODEM_POLL_MS)  # polls at due + i * _MODEM_POLL_MS before limit
        if skip <= 0:
            return due
        due += skip * _MODEM_POLL_MS
        self.fleet.polls_skipped += skip
        self.hal.fed_at(due - _MODEM_POLL_MS)
        return due

    def _logged(self, r: dict[str, Any], *event: bool) -> None:
        self.last_seq = int(r["seq"])
        values = {q: float(v) for q, v in r.items() if q in vocab.BY_NAME}
        self.w.on_reading(self.name, self.last_seq, int(r["t"]) - self.clock.offset_s, values, *event)

    def _radio(self, modem: LoRaE5Emulator, phy: bytes, freq_hz: int, dr: int, start_ms: int, airtime_ms: int) -> None:
        """The modem sent a frame: find the readings it carries, hand it to the radio model."""
        seqs: list[int] = []
        s = modem.session
        try:
            frame = lorawan.parse_phy(phy)
            if s is not None and isinstance(frame, lorawan.DataFrame) and frame.fport == 1:
                data = frame.decrypt(s.nwkskey, s.appskey, s.fcnt_up - 1)
                seqs = [int(r["seq"]) for r in payload.decode(data, {"seq": self.last_seq, "t": self.clock.time()})]
        except (lorawan.LoRaWANError, ValueError):
            seqs = []
        self.fleet.listening.add(self)
        self.w.on_frame(self.name, phy, freq_hz, 12 - dr, start_ms, seqs, modem.mac.tx_power)

    # ---------------------------------------------------------------- faults

    def power(self, on: bool) -> None:
        if on and not self.powered:
            self.powered = True
            self.app = None  # boots at its next step
        elif not on and self.powered:
            pending = [int(r["seq"]) for r in self.app.log._pending] if self.app is not None else []
            if pending:
                self.w.on_lost(self.name, pending, "node_power_loss_before_logging")
            self.powered = False
            self.app = None
            self.hal.power_loss()

    def sensor_fault(self, sensor: str, mode: str | None) -> None:
        emu = self.emulators.get(sensor)
        if emu is not None:
            emu.fault(FAULT_MODE[mode] if mode else None)


class Fleet:
    """All nodes of a scenario on one shared time line.

    The heap holds (ms, order, action, node, chain): a physical event is action() (node: the node
    it happens to, if any); a firmware step is action None with the node and the token of its step
    chain (a power cycle starts a new chain, and the old one's entries are dropped when they come
    up).

    A tick may run in two parts (simulator/shards.py): ``run_until(end, defer=nodes)`` runs every
    other node and keeps the deferred nodes' entries aside; ``run_deferred()`` then runs those
    from the tick's start, after their modems were handed the tick's downlinks. Nodes meet only on
    the radio, which is judged after the tick, so the two parts give what one run_until gives."""

    def __init__(self, sc: Scenario, clock: VirtualClock, wiring: Wiring, skip_idle_polls: bool = True) -> None:
        self.clock = clock
        self.skip_idle_polls = skip_idle_polls  # FirmwareNode._skip_idle_polls (False: every poll runs)
        self.polls_skipped = 0
        self.world = UseCaseWorld(sc)
        self._heap: list[_Entry] = []
        self._held: list[_Entry] = []
        self._held_tick = (0, 0)  # (start, end) ms of the tick whose deferred part is pending
        self._running = self._heap  # where new entries go: the deferred part's own heap while it runs
        self._order = 0
        self.listening: set[FirmwareNode] = set()  # nodes whose modem may have a receive window open
        self.nodes = [FirmwareNode(spec, sc, clock, wiring, self) for spec in sc.nodes]
        self.by_name = {n.name: n for n in self.nodes}
        self._chain: dict[str, int] = {}  # node -> token of its live step chain
        for n in self.nodes:
            self.at(n.plan_next_interval(), partial(self._replan, n), n)
            self._chain[n.name] = 0
            self._at_step(0, n, 0)

    def at(self, ms: int, action: Callable[[], None], node: FirmwareNode | None = None) -> None:
        self._order += 1
        heapq.heappush(self._running, (ms, self._order, action, node, 0))

    def _at_step(self, ms: int, node: FirmwareNode, token: int) -> None:
        self._order += 1
        heapq.heappush(self._running, (ms, self._order, None, node, token))

    def _replan(self, node: FirmwareNode) -> None:
        self.at(node.plan_next_interval(), partial(self._replan, node), node)

    def run_until(self, end_ms: int, defer: set[FirmwareNode] | None = None, held: list[_Entry] | None = None) -> None:
        """Everything due before end_ms, in time order; the shared clock ends at end_ms.

        defer: nodes whose entries go to held (default: the fleet's own list) for run_deferred()."""
        start = self.clock.monotonic_ms()
        self._run(self._heap, end_ms, defer, self._held if held is None else held)
        if defer and held is None:
            self._held_tick = (start, end_ms)

    def run_deferred(self, tick: tuple[int, int] | None = None, held: list[_Entry] | None = None,
                     later: list[_Entry] | None = None) -> None:  # fmt: skip
        """The deferred nodes' part of a tick (default: the last one run_until deferred), from its
        start: the shared clock goes back to the tick's start for them (no other node runs
        meanwhile) and then returns to where it was. Their entries due later go back to the time
        line, or to `later`, the held list of a following tick that already began without them."""
        if held is None:
            held, self._held = self._held, []
        start, end_ms = self._held_tick if tick is None else tick
        if not held:
            return
        back = self.clock.monotonic_ms()
        heapq.heapify(held)
        self.clock._ms = start  # the clock is this fleet's own (one per worker process)
        self._running = held
        try:
            self._run(held, end_ms, None, [])
        finally:
            self._running = self._heap
        into = self._heap if later is None else later
        for e in held:
            heapq.heappush(into, e)
        if back > self.clock._ms:
            self.clock._ms = back

    def _run(self, heap: list[_Entry], end_ms: int, defer: set[FirmwareNode] | None, held: list[_Entry]) -> None:
        clock, chain = self.clock, self._chain
        pop, push = heapq.heappop, heapq.heappush
        now = clock.monotonic_ms()
        while heap and heap[0][0] < end_ms:
            entry = pop(heap)
            ms, _, action, node, token = entry
            if defer and node in defer:
                held.append(entry)
                continue
            if ms > now:
                clock.advance(ms - now)
                now = ms
            if action is not None:
                action()
                continue
            assert node is not None
            if token != chain[node.name]:
                continue
            due = node.step_until(now)
            if due is not None:
                self._order += 1
                push(self._running, (due, self._order, None, node, token))
        if end_ms > now:
            clock.advance(end_ms - now)

    def open_windows(self) -> list[tuple[FirmwareNode, list[int]]]:
        """(node, receive window ms) of every node waiting for a downlink."""
        out = []
        for n in list(self.listening):
            w = n.modem.rx_windows
            if w:
                out.append((n, w))
            else:
                self.listening.discard(n)
        return out

    def power(self, name: str, on: bool) -> None:
        node = self.by_name[name]
        was_dark = not node.powered
        node.power(on)
        if on and was_dark:
            self._chain[name] += 1
            self._at_step(self.clock.monotonic_ms(), node, self._chain[name])

    def sensor_fault(self, name: str, sensor: str, mode: str | None) -> None:
        self.by_name[name].sensor_fault(sensor, mode)
