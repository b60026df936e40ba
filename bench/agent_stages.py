"""CPU time of the agent's per-uplink stages that the black-box benchmark cannot resolve under load.

    uv run python bench/agent_stages.py                                # this checkout
    PYTHONPATH=/work/base uv run python bench/agent_stages.py --other   # another checkout's code
    uv run python bench/agent_stages.py --hot-path 4000                # the ingest hot path, one thread

The SenML pack of one forwarder batch of the black-box load (50 devices, 3-quantity readings, 1 to
3 readings a device) in µs per reading, and one data-frame MIC in µs. CPU time of this process
(time.process_time), best of 5 rounds: robust to other processes' load, not to frequency changes.

--hot-path N runs N uplinks of the black-box load (50 ABP devices, one 3-quantity reading each, 8
rxpk a PUSH_DATA, built before the clock starts) through a real Agent on one thread: the packet
server's handle, the ingest, and every 4 datagrams the forwarder's claim, SenML encoding and
acknowledgement (no broker: every reading takes the hot path) and Ingest.poll. It prints this
thread's CPU µs per uplink. Under `valgrind --tool=callgrind`, the instructions of N = 4000 less
those of N = 800, over 3,200, are the cost of one uplink, whatever the machine's load (run each N
once without valgrind first: the datagrams are built then and kept in the temp directory).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def per_unit_us(fn: Callable[[], object], calls: int, units: int) -> float:
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - t) / calls / units)
    return round(best * 1e6, 2)


def hot_path(count: int) -> float:
    """This thread's CPU µs per uplink for `count` uplinks through the agent (see --hot-path)."""
    import pickle
    import shutil
    import socket
    import tempfile

    from bench import pf_loadgen as lg
    from gateway import config
    from gateway.agent import Agent
    from gateway.forward import senml
    from gateway.forward.forwarder import _group

    devs = lg.make_devices(50)
    # built once and kept: under callgrind, building the frames would count as much as taking them
    cache = Path(tempfile.gettempdir()) / ("edge-hot-path-%d.pickle" % count)
    if cache.exists():
        grams = pickle.loads(cache.read_bytes())
    else:
        grams = lg.datagrams(lg.frames(devs, -(-count // 50), 3)[:count], 8)
        cache.write_bytes(pickle.dumps(grams))
    tmp = Path(tempfile.mkdtemp(prefix="edge-hot-path-"))
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # where the PUSH_ACKs go
    sink.bind(("127.0.0.1", 0))
    try:
        data = tmp / "data"
        data.mkdir(mode=0o700)
        cfg = tmp / "gateway.toml"
        cfg.write_text(config.render({"gateway": {"id": "bench"}, "udp": {"bind": "127.0.0.1:0"},
                                      "storage": {"data_dir": str(data), "metrics_interval_s": 0.5}}))  # fmt: skip
        lg.register(data, devs)
        agent = Agent(config.load(cfg))
        server, ingest, buf, enc = agent.server, agent.ingest, agent.buffer, senml.PackEncoder()
        addr = sink.getsockname()
        t = time.thread_time()
        for i, d in enumerate(grams):
            server.handle(d, addr)
            if i % 4 == 3:
                claim = buf.claim(1024)
                if claim is not None:
                    senml.encode_pack(_group(claim), enc)
                    buf.ack(claim.ids)
                ingest.poll(time.monotonic())
        ingest.poll(time.monotonic())
        us = 1e6 * (time.thread_time() - t) / count
        if agent.metrics.get("received_uplinks") != count:
            raise SystemExit("only %d of %d uplinks were received" % (agent.metrics.get("received_uplinks"), count))
        agent.stop()
        agent.run()  # returns at once: the stop is set; shuts down cleanly
        return us
    finally:
        sink.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", action="store_true", help="import the code from PYTHONPATH, not this checkout")
    ap.add_argument("--hot-path", type=int, default=0, metavar="N", help="only run N uplinks through the agent")
    args = ap.parse_args()
    if not args.other:
        sys.path[:0] = [str(ROOT), str(ROOT / "hostshims")]
    if args.hot_path:
        print(
            json.dumps(
                {"hot_path_uplinks": args.hot_path, "thread_cpu_us_per_uplink": round(hot_path(args.hot_path), 1)}
            )
        )
        return
    from bench import pf_loadgen as lg
    from gateway.forward import senml
    from gateway.lorawan import crypto

    devs = lg.make_devices(50)
    out: dict[str, object] = {"code": str(Path(senml.__file__).resolve().parents[2])}
    for k in (1, 2, 3):
        groups = []
        for i, d in enumerate(devs):
            rs = []
            for j in range(k):
                w = (j * 7 + i) % 50  # the load generator's values
                values = {"pm2_5": 8.0 + w / 10, "pm10": 15.0 + w / 5, "temperature": 15.0 + w / 4}
                rs.append((j + 1, lg.T0 + 300 * j, values))
            groups.append((d.dev_eui, rs))
        enc = senml.PackEncoder()
        out["senml_us_per_reading_%d_a_device" % k] = per_unit_us(partial(enc.encode, groups), 200, 50 * k)
    d = devs[0]
    out["mic_us"] = per_unit_us(lambda: crypto.compute_mic(d.nwkskey, d.dev_addr, 5, True, bytes(30)), 20000, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
