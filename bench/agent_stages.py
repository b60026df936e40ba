"""CPU time of the agent's per-uplink stages that the black-box benchmark cannot resolve under load.

    uv run python bench/agent_stages.py                                # this checkout
    PYTHONPATH=/work/base uv run python bench/agent_stages.py --other   # another checkout's code

The SenML pack of one forwarder batch of the black-box load (50 devices, 3-quantity readings, 1 to
3 readings a device) in µs per reading, and one data-frame MIC in µs. CPU time of this process
(time.process_time), best of 5 rounds: robust to other processes' load, not to frequency changes.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", action="store_true", help="import the code from PYTHONPATH, not this checkout")
    args = ap.parse_args()
    if not args.other:
        sys.path[:0] = [str(ROOT), str(ROOT / "hostshims")]
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
