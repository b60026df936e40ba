"""The whole-chain runner: virtual nodes and radio, real concentrator protocol, agent, broker, checker.

Time: the nodes, their modems and the radio live on virtual time (milliseconds since the run
began, ``VirtualClock``); the gateway agent, the broker and the checker keep real time. The runner
advances virtual time in ticks (``pacing.tick_ms``, default 1 s: the RX1 delay), and per tick:

1. handles what the agent sent (PUSH_ACK, PULL_RESP) and hands due downlinks to the nodes' modems
   before their receive windows are judged;
2. runs every node due in the tick (the firmware measures, logs, and sends through its modem);
3. lets the radio decide which concentrators heard which frame (collisions, range, loss) and sends
   the receptions as PUSH_DATA, waiting for the PUSH_ACKs;
4. holds ``pacing.rx_wait_ms`` of wall time when the tick carried uplinks, so downlinks for the
   next receive windows can arrive, and holds further while the gateway is more than
   ``pacing.max_lag_readings`` behind (unless a fault explains the lag): the chain sets the speed.

Faults from the scenario's timeline are applied at their virtual times; every reading the nodes
generated ends up in the checker's verdict as delivered once, or lost with a reason, or unexplained.

The nodes are the real firmware on the virtual HAL of simulator/node_hal.py (``simulator.nodes.Fleet``).
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from edge.clock import VirtualClock
from simulator import digest, report, usecases
from simulator.agent import AgentProcess, WiringMissing
from simulator.airstats import AirStats, is_join
from simulator.broker import Backhaul, Broker
from simulator.checker import Checker, Ledger
from simulator.concentrator import Concentrator
from simulator.environment import World
from simulator.physics.world import UseCaseWorld
from simulator.radio import Frame, RadioChannel
from simulator.scenario import Scenario

KEEPALIVE_WALL_S = 1.0  # PULL_DATA period, wall time (the agent's downlink route)
STAT_VIRTUAL_S = 30.0  # stat object period, virtual time
ACK_WAIT_S = 1.0  # wall time a PUSH_DATA may wait for its PUSH_ACK
READY_TIMEOUT_S = 30.0  # wall time for the agent to answer its first PULL_DATA
DRAIN_TIMEOUT_S = 60.0  # wall time for the backlog to reach the platform after the last tick
LAG_HOLD_MAX_S = 30.0  # wall time one tick may be held for the gateway to catch up
LAG_QUIET_S = 2.0  # ... but no longer than this without a value arriving
GIL_SWITCH_S = 0.0005  # see run()
RUN_AHEAD_TICKS = 2  # ticks node workers may have begun beyond the runner's (simulator/shards.py)


def default_node_factory() -> Callable[..., Any]:
    from simulator.nodes import Fleet

    return Fleet


@dataclass
class Progress:
    virtual_s: float
    duration_s: float
    wall_s: float
    uplinks: int
    generated: int
    at_gateway: int
    arrived: int
    backhaul_up: bool
    agent_up: bool

    @property
    def backlog(self) -> int:
        return self.at_gateway - self.arrived

    @property
    def speed(self) -> float:
        return self.virtual_s / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class RunResult:
    summary: dict[str, Any]
    samples: list[report.Sample]
    spans: list[report.Span]
    ledger: Ledger

    @property
    def ok(self) -> bool:
        return bool(self.summary.get("ok"))


@dataclass
class _Event:
    at_s: float
    label: str
    action: Callable[[], None]
    order: int = 0
    on_nodes: bool = False  # a node or sensor fault: given to the nodes before their tick begins


@dataclass
class _Books:
    """What happened to every frame and reading, for the explanations."""

    uplinks: int = 0
    frames_lost: dict[str, int] = field(default_factory=dict)
    downlinks_delivered: int = 0
    downlinks_missed: int = 0
    carried: set[tuple[str, int]] = field(default_factory=set)  # readings put on the air at least once
    at_gateway: set[tuple[str, int]] = field(default_factory=set)  # in a frame the agent acknowledged
    at_gateway_values: int = 0  # values of those readings


class Runner:
    def __init__(
        self,
        scenario: Scenario,
        workdir: Path,
        broker: str = "auto",
        progress: Callable[[Progress], None] | None = None,
        node_factory: Callable[..., Any] | None = None,
        samples: int = 400,
        wall_limit_s: float = 0.0,
        platform_dsn: str | None = None,
    ) -> None:
        self.sc = scenario
        self.platform_dsn = platform_dsn  # also ingest into this PostgreSQL (simulator/platform_db.py)
        self.workdir = Path(workdir)
        self.broker_kind = broker
        self.progress = progress
        self.node_factory = node_factory
        self.sample_every_s = max(scenario.pacing.tick_ms / 1000, scenario.duration_s / samples)
        self.clock = VirtualClock(unix_start=scenario.start_unix)
        self.books = _Books()
        self.airstats = AirStats()
        self._begun_until = 0  # end of the last tick the node workers were told to begin
        self.samples: list[report.Sample] = []
        self.wall_limit_s = wall_limit_s  # 0: none; else the run stops early (benchmarks stop by themselves)
        self.split = {"nodes": 0.0, "radio_and_agent": 0.0, "hold": 0.0}  # wall seconds per stage
        self.broker: Broker | None = None
        self.spans: list[report.Span] = []
        self._acked_recently: list[tuple[str, int]] = []
        self._next_stat_s = 0.0
        self.sent: list[digest.FrameRecord] = []  # every frame the nodes sent, for the run's digest

    # ------------------------------------------------------------------ helpers

    def _now_us(self) -> int:
        return self.clock.monotonic_ms() * 1000

    def _on_reading(self, node: str, seq: int, t: int, values: dict[str, float], event: bool = False) -> None:
        self.ledger.generated(node, seq, t, values, event)

    def _on_frame(
        self, node: str, phy: bytes, freq_hz: int, sf: int, start_ms: int, seqs: list[int], tx_power: int = 0
    ) -> None:
        frame = self.radio.transmit(node, phy, freq_hz, start_ms * 1000, sf, tx_power)
        frame.seqs = list(seqs)
        self.sent.append((node, start_ms, freq_hz, sf, tx_power, bytes(phy)))
        self.books.uplinks += 1
        self.books.carried.update((node, s) for s in seqs)

    def _on_lost(self, node: str, seqs: list[int], reason: str) -> None:
        for seq in seqs:
            self.ledger.discard(node, seq, reason)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        for c in self.concentrators:
            # keep-alives answered by an earlier agent (killed since) say nothing about this one
            c.counters.pull_acked = 0
            while c.counters.pull_acked == 0:
                if not self.agent.alive:
                    tail = self.agent.log_path.read_text(errors="replace")[-600:]
                    raise WiringMissing("the gateway agent exited (code %s): %s" % (self.agent.proc.returncode, tail))  # type: ignore[union-attr]
                if time.monotonic() > deadline:
                    raise WiringMissing("the gateway agent did not answer PULL_DATA on UDP %d" % self.udp_port)
                c.pull_data()
                c.poll(0.2)
            c.counters.pull_acked = 0

    def _schedule_faults(self) -> list[_Event]:
        events: list[_Event] = []
        fleet = self.fleet
        for i, f in enumerate(self.sc.faults):
            end = f.at_s + f.duration_s
            if f.kind == "backhaul_down":
                events += [_Event(f.at_s, "backhaul down", self.backhaul.down, i),
                           _Event(end, "backhaul up", self.backhaul.up, i)]  # fmt: skip
                self.spans.append(report.Span("backhaul down", f.at_s, end))
            elif f.kind == "agent_kill":
                back = f.at_s + f.restart_after_s
                events += [_Event(f.at_s, "agent kill -9", self._kill_agent, i),
                           _Event(back, "agent start", self._start_agent, i)]  # fmt: skip
                self.spans.append(report.Span("agent killed", f.at_s, back))
            elif f.kind == "node_power_loss" and f.node:
                events += [_Event(f.at_s, "power off", partial(fleet.power, f.node, False), i, True),
                           _Event(end, "power on", partial(fleet.power, f.node, True), i, True)]  # fmt: skip
                self.spans.append(report.Span("power loss %s" % f.node, f.at_s, end))
            elif f.kind == "sensor_fault" and f.node and f.sensor:
                broken = partial(fleet.sensor_fault, f.node, f.sensor, f.mode)
                healed = partial(fleet.sensor_fault, f.node, f.sensor, None)
                events += [_Event(f.at_s, "sensor fault", broken, i, True), _Event(end, "sensor ok", healed, i, True)]
                self.spans.append(report.Span("%s %s %s" % (f.node, f.sensor, f.mode), f.at_s, end))
        return sorted(events, key=lambda e: (e.at_s, e.order))

    def _kill_agent(self) -> None:
        # Frames acknowledged in the last commit window may die with the agent before their commit.
        for key in self._acked_recently:
            self.ledger.explain(key[0], key[1], "agent_killed_before_commit")
        self.agent.kill9()

    def _start_agent(self) -> None:
        self.agent.start()
        self._wait_ready()

    # ------------------------------------------------------------------ the tick

    def _settle_and_push(self, now_ms: int) -> int:
        frames: list[Frame] = self.radio.settle(now_ms * 1000)
        heard: dict[int, list[Concentrator]] = {}
        by_name = {c.name: c for c in self.concentrators}
        for f in frames:
            seqs = f.seqs
            self.airstats.add(f.node, f.sf, f.freq_hz, f.start_us, f.airtime_us,
                              None if f.delivered else f.loss_reason(), f.losses, is_join(f.phy))  # fmt: skip
            if not f.delivered:
                reason = f.loss_reason()
                self.books.frames_lost[reason] = self.books.frames_lost.get(reason, 0) + 1
                for s in seqs:
                    self.ledger.explain(f.node, s, "radio_" + reason)
                continue
            for r in f.receptions:
                by_name[r.concentrator].receive(f.phy, f.freq_hz, f.sf, r.rssi, r.snr, f.end_us)
            heard[id(f)] = [by_name[r.concentrator] for r in f.receptions]
        stat = now_ms / 1000 >= self._next_stat_s
        if stat:
            self._next_stat_s += STAT_VIRTUAL_S
        for c in self.concentrators:
            c.push_data(stat=stat)
        alive = self.agent.alive
        acked = {id(c) for c in self.concentrators if alive and c.wait_acks(ACK_WAIT_S)}
        self._acked_recently = []
        for f in frames:
            if not f.delivered:
                continue
            keys = [(f.node, s) for s in f.seqs]
            if any(id(c) in acked for c in heard[id(f)]):
                for k in keys:
                    if k not in self.books.at_gateway:
                        self.books.at_gateway.add(k)
                        reading = self.ledger.readings.get(k)
                        self.books.at_gateway_values += len(reading.values) if reading is not None else 0
                self._acked_recently += keys
                for k in keys:
                    self.ledger.unexplain(*k)  # it reached the gateway: it must arrive
            else:
                for k in keys:
                    self.ledger.explain(k[0], k[1], "agent_down" if not alive else "push_data_unacknowledged")
        return len(frames)

    def _downlinks(self, until_ms: int) -> None:
        for c in self.concentrators:
            c.poll(0)
            for dl in c.due_downlinks(until_ms * 1000):
                at_ms = dl.at_us // 1000
                listeners = [
                    n for n, windows in self.fleet.open_windows() if any(abs(w - at_ms) <= 20 for w in windows)
                ]
                for h in listeners:
                    if self.radio.downlink_reaches(h.name, c.name, dl.sf):
                        h.modem.deliver(dl.phy, -80.0, 5.0)
                        self.books.downlinks_delivered += 1
                    else:
                        self.books.downlinks_missed += 1

    def _hold(self, frames: int, wall0: float) -> None:
        p = self.sc.pacing
        if frames and p.rx_wait_ms > 0:
            deadline = time.monotonic() + p.rx_wait_ms / 1000
            for c in self.concentrators:
                c.poll(max(0.0, deadline - time.monotonic()))
        if self.backhaul.is_up and self.agent.alive:
            deadline = time.monotonic() + LAG_HOLD_MAX_S
            seen, quiet_since = self.ledger.values_received, time.monotonic()
            while self._platform_lag() > p.max_lag_readings and time.monotonic() < deadline:
                for c in self.concentrators:
                    c.poll(0.01)
                if self.ledger.values_received != seen:
                    seen, quiet_since = self.ledger.values_received, time.monotonic()
                elif time.monotonic() - quiet_since > LAG_QUIET_S:
                    break  # nothing moves: holding longer would not help
        if p.max_speed > 0:
            ahead = self.clock.monotonic_ms() / 1000 / p.max_speed - (time.monotonic() - wall0)
            if ahead > 0:
                time.sleep(ahead)

    def _platform_lag(self) -> float:
        """Readings acknowledged by the agent and not yet at the platform, counted in values, so a
        reading that arrived under another time than generated still counts as arrived."""
        n = len(self.books.at_gateway)
        if n == 0:
            return 0.0
        per_reading = self.books.at_gateway_values / n or 1.0
        return (self.books.at_gateway_values - self.ledger.values_received) / per_reading

    def _sample(self, wall0: float) -> Progress:
        pr = Progress(
            virtual_s=self.clock.monotonic_ms() / 1000,
            duration_s=self.sc.duration_s,
            wall_s=time.monotonic() - wall0,
            uplinks=self.books.uplinks,
            generated=len(self.ledger.readings),
            at_gateway=len(self.books.at_gateway),
            arrived=self.ledger.arrived_readings(),
            backhaul_up=self.backhaul.is_up,
            agent_up=self.agent.alive,
        )
        self.samples.append(
            report.Sample(pr.virtual_s, pr.wall_s, pr.uplinks, pr.generated, pr.at_gateway, pr.arrived, pr.backlog)
        )
        if self.progress:
            self.progress(pr)
        return pr

    # ------------------------------------------------------------------ run

    def run(self) -> RunResult:
        sc = self.sc
        factory = self.node_factory or default_node_factory()
        self.workdir.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            # The tick loop waits on sockets and pipes and must run the moment they answer; the
            # checker's MQTT thread decodes CPU-bound beside it. Python hands the GIL to a waiting
            # thread only after the switch interval (5 ms by default, several ticks' budget).
            stack.callback(sys.setswitchinterval, sys.getswitchinterval())
            sys.setswitchinterval(GIL_SWITCH_S)
            stack.callback(gc.unfreeze)  # the run's objects frozen in _loop: collectable again after it
            broker = self.broker = Broker(prefer=self.broker_kind, workdir=self.workdir / "broker")
            stack.callback(broker.close)
            broker.start()
            mqtt_version = sc.mqtt_version if sc.mqtt_version in broker.mqtt_versions else 3
            self.backhaul = Backhaul(broker.port, relay=any(f.kind == "backhaul_down" for f in sc.faults))
            stack.callback(self.backhaul.close)
            self.ledger = Ledger({n.name: n.dev_eui for n in sc.nodes}, now=self.clock.time)
            checker = Checker(self.ledger, broker.port, sc.gateway.topic_root, mqtt_version)
            checker.start()
            stack.callback(checker.stop)
            ingest = None
            if self.platform_dsn:
                from simulator.platform_db import PlatformIngest

                ingest = PlatformIngest(self.platform_dsn, broker.port, sc.gateway.topic_root, mqtt_version)
                ingest.start()
                stack.callback(ingest.stop)
            from simulator.broker import free_port

            self.udp_port = free_port()
            self.agent = AgentProcess(sc, self.workdir, self.udp_port, self.backhaul.url, mqtt_version)
            self.agent.provision(sc.nodes)
            self.agent.start()
            stack.callback(self.agent.stop)
            server = ("127.0.0.1", self.udp_port)
            self.concentrators = [Concentrator(c.name, c.eui, server, self._now_us, sc.start_unix, sc.seed)
                                  for c in sc.concentrators]  # fmt: skip
            for c in self.concentrators:
                stack.callback(c.close)
            self._wait_ready()
            self.radio = RadioChannel(sc.radio, sc.nodes, sc.concentrators, sc.seed)
            self.world = World(sc.environment, sc.seed)
            from simulator.nodes import Wiring

            wiring = Wiring(self.world, self.radio.sf, self.workdir, self._on_reading, self._on_frame, self._on_lost)
            if self.node_factory is None and sc.pacing.workers > 0:
                from simulator.shards import ShardedFleet

                self.fleet = ShardedFleet(sc, self.clock, wiring, sc.pacing.workers, RUN_AHEAD_TICKS)
                stack.callback(self.fleet.close)
            else:
                self.fleet = factory(sc, self.clock, wiring)
            summary = self._loop(mqtt_version, broker.kind)
            summary["agent_exit_code"] = self.agent.stop()
            if ingest is not None:
                summary["platform"] = ingest.compare(self.ledger, {n.name: n.dev_eui for n in sc.nodes})
                summary["ok"] = summary["ok"] and summary["platform"]["same_as_checker"]
        return RunResult(summary, self.samples, self.spans, self.ledger)

    def _loop(self, mqtt_version: int, broker_kind: str) -> dict[str, Any]:
        sc, tick = self.sc, self.sc.pacing.tick_ms
        events = self._schedule_faults()
        end_ms = int(sc.duration_s * 1000)
        wall0 = time.monotonic()
        next_keepalive = next_sample = 0.0
        pipelined = hasattr(self.fleet, "begin")  # simulator/shards.py: the next ticks overlap the exchange
        while self.clock.monotonic_ms() < end_ms:
            if self._out_of_wall(wall0):
                break
            now = self.clock.monotonic_ms()
            while events and events[0].at_s * 1000 <= now:
                events.pop(0).action()
            step = min(tick, end_ms - now)
            self._downlinks(now + step)
            t0 = time.perf_counter()
            nxt = now + step
            if pipelined and not self._out_of_wall(wall0):
                self.fleet.run_until(nxt, ahead=partial(self._begin_ahead, nxt, end_ms, events))
            else:
                self.fleet.run_until(nxt)
            t1 = time.perf_counter()
            frames = self._settle_and_push(now + step)
            t2 = time.perf_counter()
            self.split["nodes"] += t1 - t0
            self.split["radio_and_agent"] += t2 - t1
            if time.monotonic() >= next_keepalive:
                next_keepalive = time.monotonic() + KEEPALIVE_WALL_S
                for c in self.concentrators:
                    c.pull_data()
            self._hold(frames, wall0)
            self.split["hold"] += time.perf_counter() - t2
            if now / 1000 >= next_sample:
                next_sample += self.sample_every_s
                self._sample(wall0)
                # What the run keeps (the ledger, the books) only grows: out of the cyclic GC's
                # reach, so a full collection does not walk the whole ledger again (gc.freeze).
                gc.freeze()
        while events:  # faults that end after the last tick (a backhaul restored at the end)
            events.pop(0).action()
        run_wall = time.monotonic() - wall0
        self._drain(wall0)
        return self._summary(mqtt_version, broker_kind, run_wall, time.monotonic() - wall0)

    def _begin_ahead(self, nxt: int, end_ms: int, events: list[_Event]) -> None:
        """The next RUN_AHEAD_TICKS ticks start for every node without a receive window open as soon
        as the workers have finished the one to nxt, beside the radio and the exchange with the
        agent (they decide nothing those nodes see). A node or sensor fault waits until the tick before
        its own has finished."""
        tick = self.sc.pacing.tick_ms
        start = max(self._begun_until, nxt)
        while start < end_ms and start < nxt + RUN_AHEAD_TICKS * tick:
            due = [e for e in events if e.on_nodes and e.at_s * 1000 <= start]
            if due and start > nxt:
                break
            for e in due:
                events.remove(e)
                e.action()
            self._begun_until = start + min(tick, end_ms - start)
            self.fleet.begin(self._begun_until)
            start = self._begun_until

    def _out_of_wall(self, wall0: float) -> bool:
        return bool(self.wall_limit_s) and time.monotonic() - wall0 > self.wall_limit_s

    def _drain(self, wall0: float) -> None:
        """Keep the agent and broker running until what reached the gateway is at the platform.

        Done when every reading the agent acknowledged arrived, or when the agent reports an empty
        buffer and nothing reached the checker for a second (readings that arrived under another
        time than generated never count as arrived), or after DRAIN_TIMEOUT_S.
        """
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        last_values, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            if self.ledger.arrived_readings() >= len(self.books.at_gateway):
                self._wait_agent_empty(min(deadline, time.monotonic() + 5.0))
                break
            if self.ledger.values_received != last_values:
                last_values, quiet_since = self.ledger.values_received, time.monotonic()
            elif time.monotonic() - quiet_since > 1.0:
                counters = (self.agent.status() or {}).get("counters", {})
                if counters.get("backlog_readings") == 0:
                    break
                quiet_since = time.monotonic()
            for c in self.concentrators:
                c.poll(0.1)
        self._sample(wall0)
        for key in set(self.ledger.readings) - self.books.carried:
            self.ledger.explain(key[0], key[1], "still_on_node_at_end")
        for f in self.radio.in_flight():  # sent in the run's last moments, it had not ended when the run did
            for seq in f.seqs:
                self.ledger.explain(f.node, seq, "on_air_at_end")

    def _wait_agent_empty(self, until: float) -> None:
        """Until the agent's counters show an empty buffer twice, a second apart, with nothing stored
        in between: the counters are saved about once a second, and the last uplinks of a run (often
        resends the platform already has) may still be in the agent's open group commit."""
        seen: int | None = None
        while time.monotonic() < until:
            counters = (self.agent.status() or {}).get("counters", {})
            stored = counters.get("stored_readings")
            if counters.get("backlog_readings") == 0 and stored is not None:
                if stored == seen:
                    return
                seen = stored
                time.sleep(1.0)
            else:
                seen = None
                time.sleep(0.2)

    def _summary(self, mqtt_version: int, broker_kind: str, run_wall: float, wall: float) -> dict[str, Any]:
        v = self.ledger.verdict()
        c_tot: dict[str, int] = {}
        for c in self.concentrators:
            for k, n in c.counters.tx_refused.items():
                c_tot[k] = c_tot.get(k, 0) + n
        skipped = []
        if mqtt_version != 5:
            skipped = [
                "MQTT 5 shared subscription (plain subscription used)",
                "MQTT 5 properties (content type, batch sequence)",
            ]
        s = {
            "scenario": self.sc.name,
            **v.summary(),
            "virtual_seconds": self.clock.monotonic_ms() / 1000,
            "stopped_early": self.clock.monotonic_ms() < int(self.sc.duration_s * 1000),
            "wall_split_seconds": {k: round(v, 2) for k, v in self.split.items()},
            "wall_seconds": round(wall, 2),
            "run_wall_seconds": round(run_wall, 2),
            "acceleration": round(self.clock.monotonic_ms() / 1000 / run_wall, 1) if run_wall > 0 else None,
            "nodes": len(self.sc.nodes),
            "concentrators": len(self.sc.concentrators),
            "uplinks": self.books.uplinks,
            "frames_lost_on_radio": dict(self.books.frames_lost),
            "readings_at_gateway": len(self.books.at_gateway),
            "downlinks_delivered": self.books.downlinks_delivered,
            "downlinks_missed": self.books.downlinks_missed,
            "tx_ack_errors": c_tot,
            "malformed_from_agent": sum(sum(c.malformed.values()) for c in self.concentrators),
            "agent_starts": self.agent.starts,
            "agent_kills": self.agent.kills,
            "broker": broker_kind,
            "mqtt_version": "5" if mqtt_version == 5 else "3.1.1",
            "skipped": skipped,
            "content_type_missing": self.ledger.content_type_missing,
            "deflated_messages": self.ledger.deflated_messages,
            "gateway_status": self.agent.status(),
            "radio": self.airstats.summary(self.clock.monotonic_ms() / 1000, self.ledger.latencies()),
            "digest": digest.digests(self.ledger, self.sent),
        }
        s["ok"] = s["lost_unexplained"] == 0 and s["wrong_values"] == 0 and s["malformed_messages"] == 0
        uc = usecases.verdict(self.sc, self.ledger, UseCaseWorld(self.sc))
        if len(uc) > 1:  # events, alerts or mobile readings to judge (simulator/usecases.py)
            s["use_cases"] = uc
            s["ok"] = s["ok"] and uc["ok"]
        return s


def write_reports(result: RunResult, json_path: Path, html_path: Path, start_unix: int) -> None:
    report.write_json(json_path, result.summary)
    report.write_html(html_path, result.summary, result.samples, result.spans, dict(result.ledger.arrivals), start_unix)
