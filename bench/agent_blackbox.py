"""Black-box benchmark of the whole agent with forwarding on: uplinks/s from datagram to PUBACK.

    uv run python bench/agent_blackbox.py                         # 30,000 uplinks offered at 10,000/s
    uv run python bench/agent_blackbox.py --count 60000 --rate 12000
    uv run python bench/agent_blackbox.py --root /work/base       # the agent of another checkout
    uv run python bench/agent_blackbox.py --py-spy out.txt        # also sample every agent thread
    uv run python bench/agent_blackbox.py --trickle --count 20000 # the simulator's trickle instead

The real agent process (`edge gateway run` of --root, with that checkout's .venv Python when it
has one), a real Mosquitto on a free loopback port, forwarding on as in production (readings
published at QoS 1, deleted after PUBACK), --devices registered ABP devices (registered by
--root's own code) sending one --quantities-quantity reading per uplink, packed --per-datagram
rxpk a PUSH_DATA by bench/pf_loadgen.py and offered at --rate uplinks/s until --count are sent.
The agent is pinned to --core (taskset), the generator, the broker and a subscriber to the other.

Reported: committed uplinks/s (the agent's received_uplinks: safe at the broker or on disk, over
the time from the first datagram to the last count), forwarded readings/s (the agent's
forwarded_readings: PUBACKed), readings the subscriber got (distinct SenML name and time, checked
against what was sent), kernel drops (the agent socket's drops in /proc/net/udp, and rxpk the
agent never saw), the agent's CPU µs per uplink (user + system of all its threads from
/proc/<pid>/stat: robust to other load), and peak RSS (VmHWM). The run stops by itself: bounded
count, and at most --timeout seconds of waiting for the counts to settle.

--trickle sends what the whole-chain simulator sends instead of bursts: --gateways concentrators,
each with its own socket, one PUSH_DATA each every --tick-ms (the simulator's wall time per
virtual second) carrying one rxpk, two in every --two-every-th, a PULL_DATA keep-alive from each
every second, and the agent configured as the simulator configures it (commit deadline 2 ms,
status file every 0.5 s). The readings are dated relative to their frame, as the node firmware
sends them (--relative 0: absolute), so the agent writes frame counters with every commit as in
the simulator. --rate is then ignored; the report adds, for each agent thread, its CPU µs and its
wake-ups (voluntary context switches) per uplink. Relative readings of one device within one
second share a time, so subscriber_readings (distinct name and time) is lower than sent then.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "hostshims")]

from bench import pf_loadgen as lg  # noqa: E402
from bench.ingest_load import (  # noqa: E402
    counters,
    cpu_s,
    free_port,
    peak_rss_kb,
    pin_away_from,
    py_spy_top,
    start_py_spy,
    stop_agent,
    stop_py_spy,
    task_cpu_s,
    wait_ready,
)
from gateway import config  # noqa: E402
from gateway.forward import senml  # noqa: E402
from gateway.metrics import METRICS_FILE  # noqa: E402
from gateway.udp.pull_data import build_pull_data  # noqa: E402
from tests.mqtt_broker import MosquittoBroker, Subscriber  # noqa: E402

REGISTER = "import sys; from pathlib import Path; from bench import pf_loadgen as lg; lg.register(Path(sys.argv[1]), lg.make_devices(int(sys.argv[2])))"  # noqa: E501


def python_of(root: Path) -> str:
    venv = root / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def env_of(root: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(root / "hostshims")]))


def udp_drops(port: int) -> int | None:
    """Datagrams the kernel dropped for the UDP socket bound to port (last column of /proc/net/udp)."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            return int(fields[-1])
    return None


def user_sys_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of the process (all its threads)."""
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def wait_connected(data: Path, timeout: float = 20.0) -> None:
    """Until the agent's forwarder says it is connected (its status gauge in metrics.json)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            doc = json.loads((data / METRICS_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            doc = {}
        if doc.get("gauges", {}).get("forwarder", {}).get("connected"):
            return
        time.sleep(0.05)
    raise RuntimeError("the agent's forwarder did not connect within %.0f s" % timeout)


def pinned(cmd: list[str], core: int | None) -> list[str]:
    return ["taskset", "-c", str(core)] + cmd if core is not None and shutil.which("taskset") else cmd


def delivered_readings(sub: Subscriber, quantities: int) -> tuple[int, int]:
    """(distinct readings, distinct values) in the packs the subscriber received."""
    keys = set()
    for _, payload, _ in sub.snapshot():
        keys.update((name, t) for name, t, _, _ in senml.resolve(payload))
    readings = {(name.rsplit(":", 1)[0], t) for name, t in keys}
    return len(readings), len(keys)


def trickle_datagrams(phys: list[bytes], gateways: int, two_every: int) -> list[list[bytes]]:
    """PUSH_DATA for each gateway in turn: one rxpk each, two in every `two_every`-th."""
    euis = ["aa555a00000000%02x" % (g + 1) for g in range(gateways)]
    out: list[list[bytes]] = [[] for _ in euis]
    i = n = 0
    while i < len(phys):
        size = 2 if two_every and n % two_every == two_every - 1 else 1
        g = n % gateways
        out[g] += lg.datagrams(phys[i : i + size], size, euis[g])
        i += size
        n += 1
    return out


def send_trickle(port: int, grams: list[list[bytes]], tick_s: float) -> int:
    """Each gateway's next PUSH_DATA every tick from its own socket, a PULL_DATA from each every
    second; returns the uplinks (rxpk) sent. Ticks are paced on an absolute schedule, so a late tick
    is followed by an early one rather than slowing the whole run."""
    server = ("127.0.0.1", port)
    socks = []
    for _ in grams:
        s = lg.socket.socket(lg.socket.AF_INET, lg.socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
    euis = [g[0][4:12].hex() for g in grams]
    sent = 0
    start = time.perf_counter()
    next_pull = start
    try:
        for tick in range(max(len(g) for g in grams)):
            now = time.perf_counter()
            if now >= next_pull:
                for s, eui in zip(socks, euis, strict=True):
                    s.sendto(build_pull_data(2, os.urandom(2), eui), server)
                next_pull += 1.0
            for s, g in zip(socks, grams, strict=True):
                if tick < len(g):
                    s.sendto(g[tick], server)
                    sent += g[tick].count(b'"tmst"')
                while True:  # PUSH_ACK, PULL_ACK
                    try:
                        s.recv(512)
                    except BlockingIOError:
                        break
            delay = start + (tick + 1) * tick_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    finally:
        for s in socks:
            s.close()
    return sent


def thread_cpu(pid: int) -> list[tuple[str, float, int]]:
    """(name, CPU s, voluntary context switches: its wake-ups) of each of the process's threads,
    most CPU first."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        task = Path("/proc/%d/task/%s" % (pid, tid))
        status = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line)
        name = "%s/%s" % ((task / "comm").read_text().strip(), tid)
        out.append((name, task_cpu_s(pid, tid), int(status["voluntary_ctxt_switches"])))
    return sorted(out, key=lambda x: -x[1])


def run(args: argparse.Namespace) -> dict:
    root = Path(args.root).resolve()
    core = None if args.core < 0 else args.core
    tmp = Path(tempfile.mkdtemp(prefix="edge-blackbox-"))
    broker = MosquittoBroker(tmp)
    agent = spy = sub = None
    try:
        broker.start()
        if core is not None and broker.pid is not None and shutil.which("taskset"):
            other = 0 if core != 0 else 1
            subprocess.run(["taskset", "-a", "-p", "-c", str(other), str(broker.pid)], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        port = free_port()
        data = tmp / "data"
        data.mkdir(mode=0o700)
        cfg_path = tmp / "gateway.toml"
        settings: dict[str, dict[str, Any]] = {
            "gateway": {"id": "bench"},
            "udp": {"bind": "127.0.0.1:%d" % port},
            "storage": {"data_dir": str(data), "metrics_interval_s": 0.5},
            "mqtt": {"url": broker.url},
        }  # fmt: skip
        if args.trickle:  # as simulator/agent.py configures the agent
            settings["ingest"] = {"commit_deadline_ms": 2}
            settings["udp"]["rxpk_time_window_s"] = 0.0
        cfg_path.write_text(config.render(settings))
        subprocess.run([python_of(root), "-c", REGISTER, str(data), str(args.devices)], cwd=root, env=env_of(root),
                       check=True)  # fmt: skip
        devs = lg.make_devices(args.devices)
        per_device = -(-args.count // args.devices)
        phys = lg.frames(devs, per_device, args.quantities, relative=args.trickle and bool(args.relative))[: args.count]
        grams = lg.datagrams(phys, args.per_datagram)
        trickle = trickle_datagrams(phys, args.gateways, args.two_every) if args.trickle else []
        sub = Subscriber(broker, "edge/bench/up")
        cmd = pinned([python_of(root), "-m", "cli.main", "gateway", "run", "--config", str(cfg_path)], core)
        agent = subprocess.Popen(cmd, cwd=root, env=env_of(root), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_ready(port)
        wait_connected(data)
        sender = lg.Sender(("127.0.0.1", port))
        # downlinks (acks) go to the generator's socket, as to a forwarder's downstream socket
        sender.sock.sendto(b"\x02\x00\x01\x02" + bytes.fromhex(lg.GATEWAY_EUI), ("127.0.0.1", port))
        if args.py_spy:
            spy = start_py_spy(agent.pid, Path(args.py_spy), None if core is None else 1 - core)
            time.sleep(1.0)  # py-spy attached
        samples: list[tuple[float, int, int]] = []
        sending = threading.Event()
        sending.set()
        goal = (len(phys), len(phys))  # every uplink committed, its one reading PUBACKed

        def sample() -> None:
            last, still_since = (-1, -1), time.monotonic()
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                c = counters(data)
                now = (c.get("received_uplinks", 0), c.get("forwarded_readings", 0))
                samples.append((time.monotonic(), *now))
                if now != last:
                    last, still_since = now, time.monotonic()
                elif not sending.is_set() and (time.monotonic() - still_since > 2.0 or now == goal):
                    return
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        cpu0, us0, named0 = cpu_s(agent.pid), user_sys_s(agent.pid), thread_cpu(agent.pid)
        t_start = time.monotonic()
        sampler.start()
        if args.trickle:
            sent = send_trickle(port, trickle, args.tick_ms / 1000)
        else:
            sent = sender.send(grams, args.rate / args.per_datagram)
        t_sent = time.monotonic()
        sending.clear()
        sampler.join()
        cpu = cpu_s(agent.pid) - cpu0
        sys_s = user_sys_s(agent.pid)[1] - us0[1]
        final_up, final_fw = samples[-1][1], samples[-1][2]
        t_up = next(t for t, n, _ in samples if n == final_up)
        t_fw = next(t for t, _, n in samples if n == final_fw)
        rss = peak_rss_kb(agent.pid)
        drops = udp_drops(port)
        threads = sorted((task_cpu_s(agent.pid, t) for t in os.listdir("/proc/%d/task" % agent.pid)), reverse=True)
        before = {n: (s, w) for n, s, w in named0}
        named = [(n, s - before.get(n, (0.0, 0))[0], w - before.get(n, (0.0, 0))[1])
                 for n, s, w in thread_cpu(agent.pid)]  # fmt: skip
        if spy is not None:
            stop_py_spy(spy)
            spy = None
        sender.close()
        time.sleep(0.5)  # the last packs reach the subscriber
        got_readings, got_values = delivered_readings(sub, args.quantities)
    finally:
        if spy is not None:
            stop_py_spy(spy)
        if sub is not None:
            sub.close()
        err = b""
        if agent is not None:
            err = stop_agent(agent)
        broker.stop()
    c = counters(data)
    try:
        batches = json.loads((data / METRICS_FILE).read_text())["gauges"]["forwarder"]["published_batches"]
    except (OSError, ValueError, KeyError):
        batches = None
    shutil.rmtree(tmp, ignore_errors=True)
    if agent.returncode != 0:
        print(err.decode()[-2000:], file=sys.stderr)
    committed = c.get("received_uplinks", 0)
    extra = {}
    if args.trickle:
        extra = {
            "trickle_gateways": args.gateways,
            "relative": bool(args.relative),
            "tick_ms": args.tick_ms,
            # over the sending and settling only, as agent_cpu_s
            "cpu_us_per_uplink_per_thread": {n: round(1e6 * s / max(1, committed), 1) for n, s, _ in named},
            "wakeups_per_uplink_per_thread": {n: round(w / max(1, committed), 2) for n, _, w in named},
        }
    return {
        "root": str(root),
        "offered_per_s": round(sent / max(1e-9, t_sent - t_start)) if args.trickle else args.rate,
        "sent_uplinks": sent if args.trickle else min(len(phys), sent * args.per_datagram),
        "send_s": round(t_sent - t_start, 2),
        "committed_uplinks": committed,
        "committed_per_s": round(final_up / max(1e-9, t_up - t_start)),
        "forwarded_readings": c.get("forwarded_readings", 0),
        "forwarded_per_s": round(final_fw / max(1e-9, t_fw - t_start)),
        "published_batches": batches,
        "subscriber_readings": got_readings,
        "subscriber_values": got_values,
        "kernel_drops": drops,
        "rxpk_not_seen": len(phys) - c.get("rxpk_received", 0),
        "readings_written": c.get("stored_readings", 0) - c.get("forwarded_readings", 0),
        "agent_cpu_us_per_uplink": round(1e6 * cpu / max(1, committed), 1),
        "agent_cpu_s": round(cpu, 2),
        "agent_system_cpu_s": round(sys_s, 2),  # in the kernel: sockets, select, futexes, fsync
        "cpu_s_per_thread": threads,
        "peak_rss_mb": round(rss / 1024, 1),
        "agent_exit": agent.returncode,
        **extra,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=30000, help="uplinks sent")
    ap.add_argument("--rate", type=float, default=10000.0, help="offered uplinks/s")
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--quantities", type=int, default=3, help="quantities in each uplink's one reading")
    ap.add_argument("--per-datagram", type=int, default=8, help="rxpk per PUSH_DATA")
    ap.add_argument("--core", type=int, default=1, help="CPU the agent is pinned to (-1: not pinned)")
    ap.add_argument("--root", default=str(ROOT), help="checkout whose agent runs (default: this one)")
    ap.add_argument("--timeout", type=float, default=60.0, help="longest wait for the counts, s")
    ap.add_argument("--py-spy", default="", help="write a py-spy raw profile of the agent (all threads) here")
    ap.add_argument("--trickle", action="store_true", help="send the simulator's trickle instead of --rate")
    ap.add_argument("--gateways", type=int, default=3, help="--trickle: concentrators")
    ap.add_argument("--tick-ms", type=float, default=2.7, help="--trickle: ms between each gateway's PUSH_DATA")
    ap.add_argument("--two-every", type=int, default=19, help="--trickle: every n-th PUSH_DATA carries 2 rxpk")
    ap.add_argument("--relative", type=int, default=1, help="--trickle: readings dated relative to the frame (1/0)")
    args = ap.parse_args()
    pin_away_from(args.core)
    print("load average at the start: %s" % " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    r = run(args)
    print(json.dumps(r))
    print("load average at the end: %s" % " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    print()
    print("| offered/s | sent | committed | committed/s | forwarded/s | subscriber readings | kernel drops "
          "| agent CPU µs/uplink | peak RSS MB |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("| %d | %d | %d | %d | %d | %d | %s | %.1f | %.1f |" % (
        r["offered_per_s"], r["sent_uplinks"], r["committed_uplinks"], r["committed_per_s"], r["forwarded_per_s"],
        r["subscriber_readings"], r["kernel_drops"], r["agent_cpu_us_per_uplink"], r["peak_rss_mb"]))  # fmt: skip
    if args.py_spy:
        print()
        print(py_spy_top(Path(args.py_spy)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
