"""Benchmark: the dense-city scenario (1,000 nodes, 3 concentrators) through the real chain.

    uv run python bench/sim_dense_city.py [--hours 24] [--wall-limit 900]

Runs the real firmware of every node, the real gateway agent process, SQLite and mosquitto, and
prints a table: wall time, simulated-to-real speed, uplinks per second through the real gateway
(uplinks the agent counted as received, per wall second of the run), peak RSS of each process, and
where the wall time went (firmware and emulators, radio model and packet-forwarder exchange, holds
for the agent). Goal (docs/simulator.md): 24 h in at most 120 s. The run stops by itself after --wall-limit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

from simulator import scenario
from simulator.runner import Runner


def vm_hwm_kb(pid: int) -> int:
    """Peak resident set of a process (VmHWM), kB; 0 once it is gone."""
    try:
        for line in Path("/proc/%d/status" % pid).read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat); 0 once it is gone."""
    try:
        fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--wall-limit", type=float, default=900.0, help="stop the run after this many wall seconds")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--workers", type=int, help="node worker processes (default: the scenario's pacing.workers)")
    args = ap.parse_args()
    sc = scenario.load("dense-city")
    sc = dataclasses.replace(sc, duration_s=args.hours * 3600)
    if args.workers is not None:
        sc = dataclasses.replace(sc, pacing=dataclasses.replace(sc.pacing, workers=args.workers))
    workdir = Path(tempfile.mkdtemp(prefix="edge-bench-dense-"))
    runner = Runner(sc, workdir, wall_limit_s=args.wall_limit)
    peaks = {"agent": 0, "broker": 0}
    worker_peaks: dict[int, int] = {}
    cpu: dict[str, dict[int, float]] = {"agent": {}, "broker": {}, "workers": {}}  # last seen, per pid
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            for name, proc in (("agent", getattr(runner, "agent", None)), ("broker", runner.broker)):
                pid = getattr(proc, "pid", None) if name == "agent" else (proc.proc.pid if proc and proc.proc else None)
                if pid:
                    peaks[name] = max(peaks[name], vm_hwm_kb(pid))
                    cpu[name][pid] = max(cpu[name].get(pid, 0.0), cpu_s(pid))
            for pid in getattr(getattr(runner, "fleet", None), "pids", []):
                worker_peaks[pid] = max(worker_peaks.get(pid, 0), vm_hwm_kb(pid))
                cpu["workers"][pid] = max(cpu["workers"].get(pid, 0.0), cpu_s(pid))

    threading.Thread(target=watch, daemon=True).start()
    t0 = time.monotonic()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    result = runner.run()
    wall = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    done.set()
    own_cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    s = result.summary
    gw = (s.get("gateway_status") or {}).get("counters", {})
    received = gw.get("received_uplinks", 0)
    still = s["lost_by_reason"].get("still_on_node_at_end", 0)
    joins = s["radio"].get("join_requests", {})
    rows = [
        ("nodes x concentrators", "%d x %d" % (s["nodes"], s["concentrators"])),
        (
            "virtual time reached",
            "%.1f h of %.1f h%s"
            % (s["virtual_seconds"] / 3600, args.hours, " (stopped at the wall limit)" if s["stopped_early"] else ""),
        ),
        ("wall time (run, with set-up and drain)", "%.1f s (%.1f s)" % (s["run_wall_seconds"], wall)),
        ("simulated-to-real speed", "%.0fx" % s["acceleration"]),
        ("readings generated", str(s["generated"])),
        ("delivered once / lost unexplained", "%d / %d" % (s["delivered_unique"], s["lost_unexplained"])),
        (
            "still_on_node_at_end",
            "%d (%.2f %% of generated)" % (still, 100.0 * still / s["generated"] if s["generated"] else 0.0),
        ),
        ("lost, explained, by reason", json.dumps(s["lost_by_reason"])),
        (
            "join-requests on air (nodes, most by one node)",
            "%d (%d, %d)" % (joins.get("total", 0), joins.get("nodes", 0), joins.get("max_per_node", 0)),
        ),
        ("uplinks on air / received by the agent", "%d / %d" % (s["uplinks"], received)),
        ("uplinks/s through the real gateway", "%.1f" % (received / s["run_wall_seconds"])),
        ("frames lost on the radio", json.dumps(s["frames_lost_on_radio"])),
        ("peak RSS simulator (runner)", "%.1f MB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)),
        ("node worker processes", str(sc.pacing.workers)),
        (
            "peak RSS node workers",
            " / ".join("%.1f MB" % (kb / 1024) for kb in worker_peaks.values()) or "(nodes in the simulator process)",
        ),
        ("peak RSS gateway agent", "%.1f MB" % (peaks["agent"] / 1024)),
        ("peak RSS broker (%s)" % s["broker"], "%.1f MB" % (peaks["broker"] / 1024)),
    ]
    rows.append(
        (
            "CPU s (set-up to drain): runner / node workers / agent / broker",
            "%.1f / %.1f / %.1f / %.1f (machine: %d cores x %.1f s wall)"
            % (own_cpu, sum(cpu["workers"].values()), sum(cpu["agent"].values()), sum(cpu["broker"].values()),
               os.cpu_count() or 1, wall),
        )
    )  # fmt: skip
    split = s["wall_split_seconds"]
    total = sum(split.values()) or 1.0
    for k, v in sorted(split.items(), key=lambda kv: -kv[1]):
        rows.append(("wall in %s" % k, "%.1f s (%.0f %%)" % (v, 100 * v / total)))
    rows.append(("bottleneck", max(split, key=lambda k: split[k])))
    width = max(len(r[0]) for r in rows)
    for k, v in rows:
        print("%s  %s" % (k.ljust(width), v))
    if args.json:
        figures = {"still_on_node_at_end": still, "generated": s["generated"]}
        Path(args.json).write_text(json.dumps({"rows": rows, "figures": figures, "summary": s}, indent=1, default=str))


if __name__ == "__main__":
    main()
