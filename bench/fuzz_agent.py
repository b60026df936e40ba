"""Fuzz run of the agent: structured mutations of valid PUSH_DATA datagrams (tests/gateway/fuzzgen.py)
sent over loopback to a real agent (in a thread of this process, real SQLite files), then the
suite's invariants checked: no internal error, every datagram and every rxpk in exactly one counter,
every accepted uplink committed, the agent still serving.

    uv run python bench/fuzz_agent.py                     # 100,000 datagrams, seed 18
    uv run python bench/fuzz_agent.py --datagrams 300000 --seed 7

Prints one JSON line: datagrams and rxpk sent, how they were counted, wall time, datagrams/s and
the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "hostshims")]

from tests.gateway.fuzzgen import Generator, drive  # noqa: E402
from tests.gateway.harness import AgentThread, add_abp, make_config, uplink  # noqa: E402
from tests.gateway.pf import Forwarder, rxpk  # noqa: E402
from tests.gateway.test_fuzz_structured import ADDR, EUI, check  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datagrams", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config(Path(tmp))
        add_abp(cfg, "0004a30b001c0530", ADDR)
        a = AgentThread(cfg)
        f = Forwarder(a.address, EUI)
        try:
            gen = Generator(args.seed, ADDR, EUI)
            t0 = time.monotonic()
            sent = drive(a, f, gen, args.datagrams)
            elapsed = time.monotonic() - t0
            got = check(a, sent)
            before = got["received_uplinks"]
            f.push([rxpk(uplink(ADDR, gen.fcnt + 1, {"seq": 10**7, "t": 1763800000, "pm10": 3.0}))])
            assert a.wait("received_uplinks", before + 1) == before + 1, "not serving after the run"
            outcomes = {k: v for k, v in a.metrics.snapshot()["counters"].items() if v and k.startswith("bad_rxpk.")}
        finally:
            f.close()
            a.stop()
    print(json.dumps({"seed": args.seed, "sent": sent, "counted": got, "bad_rxpk_by_kind": outcomes,
                      "seconds": round(elapsed, 1), "datagrams_per_s": round(sent["datagrams"] / elapsed),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      }))  # fmt: skip


if __name__ == "__main__":
    main()
