"""Run a scenario and print the digests of its results (simulator/digest.py), to compare trees.

    uv run python bench/sim_digest.py dense-city --hours 2 [--workers N] [--out DIR]

Works on any tree of the project: run it with that tree's environment, e.g.
``cd OTHER_TREE && uv run python /path/to/this/bench/sim_digest.py ...``; the frames are recorded
here (a subclass of the runner), the digest code is this file's tree's. --out writes the
canonical lines (generated.txt, delivered.txt, frames.txt) and summary.json, to diff two runs.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", help="a shipped scenario's name or a TOML file")
    ap.add_argument("--hours", type=float, help="cut the duration to this many hours")
    ap.add_argument("--workers", type=int, help="node worker processes (default: the scenario's)")
    ap.add_argument("--out", help="write the canonical lines and the summary here")
    args = ap.parse_args()
    sc = scenario.load(args.scenario)
    if args.hours is not None:
        sc = dataclasses.replace(sc, duration_s=args.hours * 3600)
    if args.workers is not None:
        sc = dataclasses.replace(sc, pacing=dataclasses.replace(sc.pacing, workers=args.workers))
    runner = RecordingRunner(sc, Path(tempfile.mkdtemp(prefix="edge-digest-")))
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
