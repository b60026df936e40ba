"""Run a scenario and print the digests of its results (simulator/digest.py), to compare trees.

    uv run python bench/sim_digest.py dense-city --hours 2 [--workers N] [--out DIR]

Works on any tree of the project: run it with that tree's environment, e.g.
``cd OTHER_TREE && uv run python /path/to/this/bench/sim_digest.py ...``; the frames are recorded
here (a subclass of the runner), the digest code is this file's tree's. --out writes the
canonical lines (generated.txt, delivered.txt, frames.txt) and summary.json, to diff two runs.

--fleet-only runs the nodes alone (real firmware and emulators, no radio, agent or broker: nobody
answers their joins), tick by tick as the runner does: deterministic, unlike the whole chain, whose
downlinks depend on how fast the agent answers in wall time (docs/simulator.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from simulator import scenario
from simulator.runner import Runner

_spec = importlib.util.spec_from_file_location("_digest", Path(__file__).resolve().parents[1] / "simulator/digest.py")
assert _spec is not None and _spec.loader is not None
digest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(digest)


class RecordingRunner(Runner):
    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.sent: list[tuple[str, int, int, int, int, bytes]] = []

    def _on_frame(self, node: str, phy: bytes, freq_hz: int, sf: int, start_ms: int, seqs: list[int],
                  tx_power: int = 0) -> None:  # fmt: skip
        self.sent.append((node, start_ms, freq_hz, sf, tx_power, bytes(phy)))
        super()._on_frame(node, phy, freq_hz, sf, start_ms, seqs, tx_power)


def fleet_only(sc: scenario.Scenario, workdir: Path) -> tuple[Any, list[Any]]:
    """Step the scenario's nodes alone; (a ledger-like record of their readings, their frames)."""
    from types import SimpleNamespace

    from edge.clock import VirtualClock
    from simulator.checker import Reading
    from simulator.environment import World
    from simulator.nodes import Fleet, Wiring
    from simulator.radio import RadioChannel

    got = SimpleNamespace(readings={}, arrivals={}, discarded=[])
    sent: list[Any] = []

    def on_reading(node: str, seq: int, t: int, values: dict[str, float]) -> None:
        got.readings[(node, seq)] = Reading(node, seq, t, dict(values))

    def on_frame(node: str, phy: bytes, hz: int, sf: int, start_ms: int, seqs: list[int], tx: int) -> None:
        sent.append((node, start_ms, hz, sf, tx, bytes(phy)))

    def on_lost(node: str, seqs: list[int], reason: str) -> None:
        for s in seqs:
            r = got.readings.pop((node, s), None)
            if r is not None:
                got.discarded.append((r, reason))

    radio = RadioChannel(sc.radio, sc.nodes, sc.concentrators, sc.seed)
    wiring = Wiring(World(sc.environment, sc.seed), radio.sf, workdir, on_reading, on_frame, on_lost)
    clock = VirtualClock(unix_start=sc.start_unix)
    if sc.pacing.workers > 0:
        from simulator.shards import ShardedFleet

        fleet: Any = ShardedFleet(sc, clock, wiring, sc.pacing.workers)
    else:
        fleet = Fleet(sc, clock, wiring)
    tick, end = sc.pacing.tick_ms, int(sc.duration_s * 1000)
    try:
        for ms in range(tick, end + 1, tick):
            fleet.run_until(ms)
    finally:
        getattr(fleet, "close", lambda: None)()
    return got, sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", help="a shipped scenario's name or a TOML file")
    ap.add_argument("--hours", type=float, help="cut the duration to this many hours")
    ap.add_argument("--workers", type=int, help="node worker processes (default: the scenario's)")
    ap.add_argument("--out", help="write the canonical lines and the summary here")
    ap.add_argument("--fleet-only", action="store_true", help="the nodes alone, without radio, agent and broker")
    args = ap.parse_args()
    sc = scenario.load(args.scenario)
    if args.hours is not None:
        sc = dataclasses.replace(sc, duration_s=args.hours * 3600)
    if args.workers is not None:
        sc = dataclasses.replace(sc, pacing=dataclasses.replace(sc.pacing, workers=args.workers))
    workdir = Path(tempfile.mkdtemp(prefix="edge-digest-"))
    if args.fleet_only:
        t0 = time.monotonic()
        ledger, sent = fleet_only(sc, workdir)
        print(json.dumps({"wall_s": round(time.monotonic() - t0, 1), "digest": digest.digests(ledger, sent)}, indent=1))
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            for name, ls in digest.lines(ledger, sent).items():
                (out / (name + ".txt")).write_text("\n".join(ls) + "\n")
        return
    runner = RecordingRunner(sc, workdir)
    t0 = time.monotonic()
    result = runner.run()
    wall = time.monotonic() - t0
    s = result.summary
    d = digest.digests(result.ledger, runner.sent)
    keys = ("generated", "delivered_unique", "lost_unexplained", "uplinks", "downlinks_delivered", "run_wall_seconds")
    print(json.dumps({**{k: s.get(k) for k in keys}, "wall_s": round(wall, 1), "lost_by_reason": s["lost_by_reason"],
                      "digest": d}, indent=1))  # fmt: skip
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, ls in digest.lines(result.ledger, runner.sent).items():
            (out / (name + ".txt")).write_text("\n".join(ls) + "\n")
        (out / "summary.json").write_text(json.dumps(s, indent=1, default=str))


if __name__ == "__main__":
    main()
