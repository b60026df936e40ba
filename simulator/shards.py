"""The fleet sharded over worker processes, so node firmware runs on every core.

``ShardedFleet`` has the interface the runner uses of ``simulator.nodes.Fleet`` (``run_until``,
``open_windows``, ``power``, ``sensor_fault``) and splits the scenario's nodes round-robin over
``pacing.workers`` processes. Each worker holds an ordinary ``Fleet`` of its nodes, on its own
``VirtualClock`` that follows the runner's: per tick the runner's process sends every worker the
tick's end and what happened to its nodes since the last tick (downlinks handed to their modems,
power and sensor faults), the workers step their nodes at the same time, and send back what the
nodes did (readings logged, frames sent, readings lost) and which receive windows are open. The
runner's process replays those on the real wiring in virtual-time order, so the radio, the
concentrators, the agent and the checker see what they would see from one process.

Nothing is sent between nodes within a tick (they only meet on the radio, which the runner's
process decides after the tick), so a tick of many nodes splits without changing what any node
sees. The same holds in time: ``begin(end)`` starts the next tick for every node that has no
receive window open while the runner's process is still exchanging the last tick's frames with
the agent (radio, PUSH_DATA/PUSH_ACK, the hold for PULL_RESP); ``run_until(end)`` then hands the
downlinks to the modems of the nodes that were waiting for one and runs those nodes' part of the
tick (``Fleet.run_until(defer=...)``, ``Fleet.run_deferred()``). Up to ``ahead`` ticks may be
begun at once; a node deferred in one stays deferred in those begun after it, and catches up with
them once its own tick is finished and it waits for no downlink.

What differs from one process: the order in which frames that start in the same millisecond
reach the radio model (by worker, then node), so results are deterministic for a given worker
count, not identical across counts. Workers run at a lower priority (nice) than the runner and
the agent, whose exchange each tick is the critical path.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import traceback
from collections import deque
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import Any

from edge.clock import VirtualClock
from simulator.scenario import Scenario

_READING, _FRAME, _LOST = 0, 1, 2
_NICE = 10


def _worker(conn: Any, sc: Scenario, names: list[str], workdir: Path, sf: dict[str, int]) -> None:
    """One shard; with EDGE_SIM_PROFILE=DIR set, under cProfile, written to DIR/worker-PID.prof."""
    # Below the runner and the agent: their exchange each tick is the critical path, and the
    # workers fill whatever CPU it leaves (they start the next tick while it runs).
    try:
        os.nice(_NICE)
    except OSError:
        pass
    out_dir = os.environ.get("EDGE_SIM_PROFILE")
    if not out_dir:
        _serve(conn, sc, names, workdir, sf)
        return
    import cProfile

    prof = cProfile.Profile()
    prof.runcall(_serve, conn, sc, names, workdir, sf)
    prof.dump_stats(os.path.join(out_dir, "worker-%d.prof" % os.getpid()))


def _serve(conn: Any, sc: Scenario, names: list[str], workdir: Path, sf: dict[str, int]) -> None:
    """One shard: an ordinary Fleet of its nodes, stepped when the runner's process says."""
    try:
        from simulator.environment import World
        from simulator.nodes import Fleet, Wiring

        clock = VirtualClock(unix_start=sc.start_unix)
        sink: list[list[tuple[int, int, tuple[Any, ...]]]] = [[]]  # what the nodes do goes to their tick

        def on_reading(node: str, seq: int, t: int, values: dict[str, float], *event: bool) -> None:
            sink[0].append((clock.monotonic_ms(), _READING, (node, seq, t, values, *event)))

        def on_frame(node: str, phy: bytes, freq_hz: int, sf_: int, start_ms: int, seqs: list[int], tx: int) -> None:
            sink[0].append((start_ms, _FRAME, (node, phy, freq_hz, sf_, start_ms, seqs, tx)))

        def on_lost(node: str, seqs: list[int], reason: str) -> None:
            sink[0].append((clock.monotonic_ms(), _LOST, (node, seqs, reason)))

        wanted = set(names)
        sub = dataclasses.replace(sc, nodes=tuple(n for n in sc.nodes if n.name in wanted))
        fleet = Fleet(sub, clock, Wiring(World(sc.environment, sc.seed), sf, workdir, on_reading, on_frame, on_lost))
        ticks: deque[_Tick] = deque()  # begun, not finished: at most the runner's run-ahead
        conn.send(("ready", None))
        while True:
            for kind, end_ms, commands in conn.recv():  # a tick to run or finish, then ticks to begin
                if kind == "stop":
                    return
                _step(conn, fleet, ticks, sink, clock, kind, end_ms, commands)
    except (EOFError, KeyboardInterrupt):
        pass
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass


def _step(conn: Any, fleet: Any, ticks: deque[_Tick], sink: list[Any], clock: VirtualClock, kind: str, end_ms: int,
          commands: list[tuple[Any, ...]]) -> None:  # fmt: skip
    """One message of the runner's: begin, finish or run a tick; the last two answer with its events."""
    tick = _Tick(clock.monotonic_ms(), end_ms) if kind != "finish" else ticks.popleft()
    if tick.end != end_ms:
        raise RuntimeError("asked to finish the tick to %d, the oldest begun ends at %d" % (end_ms, tick.end))
    sink[0] = tick.out
    _apply(fleet, commands)
    if kind == "begin":  # every node that cannot get a downlink in this tick; no answer yet
        _begin(fleet, tick, ticks)
        return
    if kind == "finish":  # the nodes with a receive window open, their downlinks delivered
        windows = _finish(fleet, tick, ticks, sink)
    else:
        if ticks:
            raise RuntimeError("asked to run a tick while %d begun ones are open" % len(ticks))
        fleet.run_until(end_ms)
        windows = None
    conn.send(("tick", (tick.out, _windows(fleet, tick) if windows is None else windows)))


def _apply(fleet: Any, commands: list[tuple[Any, ...]]) -> None:
    """The runner's commands for this tick: downlinks to deliver, power cuts, sensor faults."""
    for cmd in commands:
        if cmd[0] == "deliver":
            fleet.by_name[cmd[1]].modem.deliver(cmd[2], *cmd[3:])
        elif cmd[0] == "power":
            fleet.power(cmd[1], cmd[2])
        elif cmd[0] == "fault":
            fleet.sensor_fault(cmd[1], cmd[2], cmd[3])


def _begin(fleet: Any, tick: _Tick, ticks: deque[_Tick]) -> None:
    """Run the nodes that cannot get a downlink in this tick to its end; the others wait for it."""
    listening = fleet.open_windows()
    if ticks:  # the tick before is still open: its deferred nodes wait for this one too
        prev = ticks[-1]
        prev.windows = [(n.name, list(w)) for n, w in listening if n not in prev.deferred]
        tick.deferred = prev.deferred.copy()
    tick.deferred.update(n for n, _ in listening)
    fleet.run_until(tick.end, defer=tick.deferred, held=tick.held)
    ticks.append(tick)


def _finish(fleet: Any, tick: _Tick, ticks: deque[_Tick], sink: list[Any]) -> list[tuple[str, list[int]]]:
    """Run the deferred nodes of the oldest begun tick (their downlinks delivered); its windows."""
    later = list(ticks)  # the ticks begun after this one, oldest first
    fleet.run_deferred((tick.start, tick.end), tick.held, later[0].held if later else None)
    windows = _windows(fleet, tick)  # before any node runs on into the next tick
    # Deferred in the later ticks only because they had not finished this one: those without a
    # receive window catch up with them, tick by tick, until one leaves them with a window open
    # (from there they wait as any deferred node does) or they reach the last one begun.
    catch = {n for n in tick.deferred if not n.modem.rx_windows}
    for i, t in enumerate(later):
        catch &= t.deferred
        if not catch:
            break
        mine = [e for e in t.held if e[3] in catch]
        t.held = [e for e in t.held if e[3] not in catch]
        sink[0] = t.out
        fleet.run_deferred((t.start, t.end), mine, later[i + 1].held if i + 1 < len(later) else None)
        if i + 1 < len(later):
            # a window open at t's end: the node stays deferred in t, so t reports it when finished
            catch = {n for n in catch if not n.modem.rx_windows}
        t.deferred -= catch
    sink[0] = tick.out
    return windows


def _windows(fleet: Any, tick: _Tick) -> list[tuple[str, list[int]]]:
    """The receive windows open at the end of a finished tick."""
    if tick.windows is None:  # no later tick has run: every node is at this tick's end
        return [(n.name, list(w)) for n, w in fleet.open_windows()]
    return tick.windows + [(n.name, n.modem.rx_windows) for n in tick.deferred if n.modem.rx_windows]


class _Tick:
    """A tick a worker has begun: its nodes' events, the nodes deferred to its second part and
    their held time-line entries, the receive windows open at its end (known when the next tick
    begins before this one is finished)."""

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end
        self.out: list[tuple[int, int, tuple[Any, ...]]] = []
        self.deferred: set[Any] = set()
        self.held: list[Any] = []
        self.windows: list[tuple[str, list[int]]] | None = None


class _ModemProxy:
    """What the runner hands a downlink to: queued for the node's worker, delivered before its next
    tick (the runner delivers downlinks before it runs the tick, as with one process)."""

    def __init__(self, fleet: ShardedFleet, name: str) -> None:
        self._fleet = fleet
        self._name = name

    def deliver(self, phy: bytes, *rssi_snr: float) -> None:  # the modem emulator's own defaults otherwise
        self._fleet._send(self._name, ("deliver", self._name, bytes(phy), *rssi_snr))


class _NodeProxy:
    def __init__(self, fleet: ShardedFleet, name: str) -> None:
        self.name = name
        self.modem = _ModemProxy(fleet, name)


class ShardedFleet:
    """All nodes of a scenario on one time line, stepped by `workers` processes."""

    def __init__(self, sc: Scenario, clock: VirtualClock, wiring: Any, workers: int, ahead: int = 0) -> None:
        self.clock = clock
        self.ahead = ahead  # ticks that may be begun and not finished (the runner's RUN_AHEAD_TICKS)
        self.w = wiring
        workers = max(1, min(workers, len(sc.nodes)))
        groups = [[n.name for n in sc.nodes[i::workers]] for i in range(workers)]
        self._owner = {name: i for i, g in enumerate(groups) for name in g}
        self.by_name = {name: _NodeProxy(self, name) for name in self._owner}  # as Fleet.by_name
        self._pending: list[list[tuple[Any, ...]]] = [[] for _ in groups]
        self._windows: list[tuple[_NodeProxy, list[int]]] = []
        self._begun: deque[int] = deque()  # ends of the ticks whose first part the workers ran or run
        self._staged: list[list[tuple[Any, ...]]] | None = None  # per worker: run_until's message, being built
        ctx = multiprocessing.get_context("spawn")  # the runner's process has threads: no fork
        self._conns = []
        self._procs = []
        for g in groups:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(child, sc, g, wiring.workdir, dict(wiring.sf)), daemon=True)
            p.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(p)
        for conn in self._conns:
            self._recv(conn)

    def _recv(self, conn: Any) -> Any:
        try:
            kind, body = conn.recv()
        except EOFError:
            raise RuntimeError("a node worker process exited") from None
        if kind == "error":
            raise RuntimeError("a node worker process failed:\n%s" % body)
        return body

    def _send(self, name: str, cmd: tuple[Any, ...]) -> None:
        self._pending[self._owner[name]].append(cmd)

    def begin(self, end_ms: int) -> None:
        """Start a tick (to end_ms) for every node without a receive window open, while the runner's
        process exchanges the last tick with the agent; run_until(end_ms) finishes it. At most
        `ahead` ticks may be begun and not finished; power and sensor faults of a tick must be given
        before it begins (and only when the tick before it has finished), downlinks before it is
        finished."""
        if len(self._begun) >= self.ahead:
            raise RuntimeError("%d ticks begun already" % len(self._begun))
        for i, conn in enumerate(self._conns):
            cmd = ("begin", end_ms, self._pending[i])
            self._pending[i] = []
            if self._staged is not None:
                self._staged[i].append(cmd)
            else:
                conn.send([cmd])
        self._begun.append(end_ms)

    @property
    def begun(self) -> int:
        """How many ticks are begun and not finished."""
        return len(self._begun)

    def run_until(self, end_ms: int, ahead: Callable[[], None] | None = None) -> None:
        """Every worker runs its nodes to end_ms; what they did is replayed here in time order.

        ahead(), when given, is called once this tick's commands are taken: the ticks it begins
        (begin(), faults before them) go to each worker in the same message, after this tick, so
        a worker starts them the moment it has answered, with one pipe message a tick."""
        if self._begun:
            if self._begun[0] != end_ms:
                raise RuntimeError("the tick to %d is begun, run to %d asked" % (self._begun[0], end_ms))
            self._begun.popleft()
            kind = "finish"
        else:
            kind = "run"
        msgs: list[list[tuple[Any, ...]]] = [[(kind, end_ms, p)] for p in self._pending]
        self._pending = [[] for _ in self._conns]
        if ahead is not None:
            self._staged = msgs
            try:
                ahead()
            finally:
                self._staged = None
        for conn, msg in zip(self._conns, msgs, strict=True):
            conn.send(msg)
        events: list[tuple[int, int, tuple[Any, ...]]] = []
        windows: list[tuple[str, list[int]]] = []
        for conn in self._conns:
            out, open_now = self._recv(conn)
            events += out
            windows += open_now
        events.sort(key=itemgetter(0))  # stable: a worker's own order is kept within a millisecond
        w = self.w
        for _, what, args in events:
            if what == _FRAME:
                w.on_frame(*args)
            elif what == _READING:
                w.on_reading(*args)
            else:
                w.on_lost(*args)
        self._windows = [(self.by_name[name], ws) for name, ws in windows]
        now = self.clock.monotonic_ms()
        if end_ms > now:
            self.clock.advance(end_ms - now)

    def open_windows(self) -> list[tuple[_NodeProxy, list[int]]]:
        """(node, receive window ms) of every node waiting for a downlink, as of the last tick."""
        return self._windows

    def power(self, name: str, on: bool) -> None:
        self._send(name, ("power", name, on))

    def sensor_fault(self, name: str, sensor: str, mode: str | None) -> None:
        self._send(name, ("fault", name, sensor, mode))

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send([("stop", None, None)])
            except OSError:
                pass
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        for conn in self._conns:
            conn.close()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]
