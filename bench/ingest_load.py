"""Ingest benchmark: the running agent (a real process) driven over loopback by a packet-forwarder
load generator; sustained uplinks/s from datagram to committed row, peak RSS, time per stage.

    uv run python bench/ingest_load.py                      # default: rates 5k..20k uplinks/s, 8 s each
    uv run python bench/ingest_load.py --rates 10000 --seconds 20 --devices 2000
    uv run python bench/ingest_load.py --profile            # also cProfile the agent process

The agent is pinned to one core (taskset -c 1), the generator to another. For each offered rate
the generator sends pre-built PUSH_DATA datagrams (8 rxpk each, unique frames of registered ABP
devices, one 6-quantity reading per frame) for --seconds, then waits until the agent's
received_uplinks (counted only after the buffer commit returned) stops moving. Reported:
committed uplinks/s over the run, loss (datagrams the kernel dropped because the agent fell
behind), the agent's CPU time per committed uplink (all its threads, from /proc/<pid>/stat: the
figure that does not depend on what else runs on the machine) and its peak RSS (VmHWM).
The per-stage table times each stage of the same
pipeline in this process over the same frames, in µs per uplink.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "hostshims")]

from bench import pf_loadgen as lg  # noqa: E402
from gateway import config  # noqa: E402
from gateway.metrics import METRICS_FILE  # noqa: E402

PER_DATAGRAM = 8


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_config(tmp: Path, port: int) -> Path:
    path = tmp / "gateway.toml"
    path.write_text(
        config.render(
            {
                "gateway": {"id": "bench"},
                "udp": {"bind": "127.0.0.1:%d" % port},
                "storage": {"data_dir": str(tmp / "data"), "metrics_interval_s": 0.5},
            }
        )  # fmt: skip
    )
    (tmp / "data").mkdir(mode=0o700)
    return path


def start_agent(cfg_path: Path, core: int | None, profile: Path | None) -> subprocess.Popen:
    cmd = [sys.executable]
    if profile is not None:
        cmd += ["-m", "cProfile", "-o", str(profile)]
    cmd += ["-m", "cli.main", "gateway", "run", "--config", str(cfg_path)]
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core)] + cmd
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "hostshims")]))
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_agent(agent: subprocess.Popen) -> bytes:
    """SIGTERM (the agent's orderly stop), SIGKILL after 30 s; its stderr."""
    agent.send_signal(signal.SIGTERM)
    try:
        _, err = agent.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        agent.kill()
        _, err = agent.communicate()
    return err or b""


def pin_away_from(core_arg: int) -> int | None:
    """This process (the load generator) onto another CPU than the agent's; print the machine line.
    The agent's core, None when not pinned (-1)."""
    core = None if core_arg < 0 else core_arg
    if core is not None and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0 if core != 0 else 1})
    print("machine: %s, %d CPUs, Python %s" % (os.uname().machine, os.cpu_count() or 0, sys.version.split()[0]))
    return core


def wait_ready(port: int, timeout: float = 20.0) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            s.sendto(b"\x02\x00\x01\x02" + bytes.fromhex(lg.GATEWAY_EUI), ("127.0.0.1", port))
            try:
                if s.recv(16)[3] == 4:
                    return
            except TimeoutError:
                continue
    finally:
        s.close()
    raise RuntimeError("agent did not answer PULL_DATA within %.0f s" % timeout)


def metrics(data_dir: Path) -> dict:
    """The agent's metrics file as last written ({} before the first write)."""
    try:
        return json.loads((data_dir / METRICS_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def counters(data_dir: Path) -> dict:
    return metrics(data_dir).get("counters", {})


def peak_rss_kb(pid: int) -> int:
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (all its threads)."""
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def task_cpu_s(pid: int, tid: str) -> float:
    fields = Path("/proc/%d/task/%s/stat" % (pid, tid)).read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def start_py_spy(pid: int, out: Path, core: int | None) -> subprocess.Popen:
    """py-spy sampling every thread of pid (not pausing it) into a collapsed-stack file, on `core`."""
    cmd = ["py-spy", "record", "--pid", str(pid), "--threads", "--format", "raw", "--rate", "250",
           "--nonblocking", "--gil", "--output", str(out)]  # fmt: skip
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core)] + cmd
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(spy: subprocess.Popen) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()


def py_spy_top(path: Path, n: int = 25) -> str:
    """Share of the samples by thread, by function (self) and by function (self and callees)."""
    threads: dict[str, int] = {}
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    all_ = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        all_ += k
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread ")), "?")
        threads[thread] = threads.get(thread, 0) + k
        code = [f for f in frames if not f.startswith(("thread ", "process "))]
        if code:
            own[code[-1]] = own.get(code[-1], 0) + k
        for f in set(code):
            total[f] = total.get(f, 0) + k
    out = ["%d samples (threads idle in a wait are not sampled)" % all_, "", "| thread | share |", "|---|---:|"]
    out += ["| %s | %.1f %% |" % (t, 100 * c / all_) for t, c in sorted(threads.items(), key=lambda x: -x[1])]
    for title, table in (("self", own), ("self and callees", total)):
        out += ["", "| function (%s) | share |" % title, "|---|---:|"]
        out += ["| %s | %.1f %% |" % (f, 100 * c / all_) for f, c in sorted(table.items(), key=lambda x: -x[1])[:n]]
    return "\n".join(out)


def run_rate(
    rate: int, seconds: float, devices: int, core: int | None, profile: Path | None, spy_out: Path | None = None
) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    try:
        port = free_port()
        cfg_path = write_config(tmp, port)
        devs = lg.make_devices(devices)
        lg.register(tmp / "data", devs)
        n_uplinks = int(rate * seconds)
        per_device = -(-n_uplinks // devices)
        phys = lg.frames(devs, per_device)[:n_uplinks]
        data = lg.datagrams(phys, PER_DATAGRAM)
        agent = start_agent(cfg_path, core, profile)
        try:
            wait_ready(port)
            sender = lg.Sender(("127.0.0.1", port))
            samples: list[tuple[float, int]] = []
            sending = threading.Event()
            sending.set()

            def sample() -> None:
                # settled: no change for two of the file's write intervals (with no broker the agent
                # writes it less often once storing has gone on a while), and at least 1 s
                last, still_since, still_s = -1, time.monotonic(), 1.0
                while sending.is_set() or time.monotonic() - still_since < still_s:
                    m = metrics(tmp / "data")
                    n = m.get("counters", {}).get("received_uplinks", 0)
                    still_s = max(1.0, 2 * m.get("interval_s", 0.0))
                    samples.append((time.monotonic(), n))
                    if n != last:
                        last, still_since = n, time.monotonic()
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            spy = start_py_spy(agent.pid, spy_out, os.sched_getaffinity(0).pop()) if spy_out is not None else None
            cpu0 = cpu_s(agent.pid)
            t_start = time.monotonic()
            sampler.start()
            sent = sender.send(data, rate / PER_DATAGRAM)
            t_sent = time.monotonic()
            sending.clear()
            sampler.join()
            final = samples[-1][1]
            t_done = next(t for t, n in samples if n == final)
            rss = peak_rss_kb(agent.pid)
            cpu = cpu_s(agent.pid) - cpu0
            threads = sorted((task_cpu_s(agent.pid, t) for t in os.listdir("/proc/%d/task" % agent.pid)), reverse=True)
            if spy is not None:
                stop_py_spy(spy)
            sender.close()
        finally:
            err = stop_agent(agent)
        c = counters(tmp / "data")
        if agent.returncode != 0:
            print(err.decode()[-2000:], file=sys.stderr)
        committed = c.get("received_uplinks", 0)
        # steady rate: committed uplinks between 10 % and 90 % of the final count, over their time span
        lo = next((t for t, n in samples if n >= 0.1 * committed), t_start)
        hi = next((t for t, n in samples if n >= 0.9 * committed), t_done)
        steady = (0.8 * committed / (hi - lo)) if hi > lo else 0.0
        series = [(round(t - t_start, 2), n) for t, n in samples[:: max(1, len(samples) // 12)]]
        return {
            "series": series,
            "offered_per_s": rate,
            "sent_uplinks": sent * PER_DATAGRAM if sent == len(data) else min(len(phys), sent * PER_DATAGRAM),
            "send_s": round(t_sent - t_start, 2),
            "last_commit_after_send_s": round(t_done - t_sent, 2),
            "committed_uplinks": committed,
            "committed_readings": c.get("stored_readings", 0),
            "lost_uplinks": len(phys) - c.get("rxpk_received", 0),
            "throughput_per_s": round(committed / max(1e-9, t_done - t_start)),
            "steady_per_s": round(steady),
            "peak_rss_mb": round(rss / 1024, 1),
            "agent_cpu_us_per_uplink": round(1e6 * cpu / max(1, committed), 1),
            "uplinks_per_cpu_s": round(committed / cpu) if cpu else 0,
            "cpu_s_per_thread": threads,
            "agent_exit": agent.returncode,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def stage_profile(devices: int = 1000, per_device: int = 20) -> list[tuple[str, float]]:
    """µs per uplink of each stage, timed in this process over the same kind of frames."""
    from edge import payload
    from gateway import lorawan
    from gateway.store.buffer import ReadingBuffer
    from gateway.store.records import Reading, Uplink
    from gateway.udp.header import parse_header
    from gateway.udp.push_data import parse_push_data

    devs = lg.make_devices(devices)
    by_addr = {d.dev_addr: d for d in devs}
    phys = lg.frames(devs, per_device)
    data = lg.datagrams(phys, PER_DATAGRAM)
    n = len(phys)
    out = []
    clock = time.perf_counter

    t = clock()
    rxs = []
    for d in data:
        rxs += parse_push_data(d, parse_header(d)).rxpk
    out.append(("datagram: header, JSON, base64, rxpk checks", clock() - t))
    t = clock()
    frames_ = [lorawan.parse_phy(r.phy) for r in rxs]
    out.append(("LoRaWAN: parse PHYPayload", clock() - t))
    t = clock()
    fcnts = []
    for f in frames_:
        assert isinstance(f, lorawan.DataFrame)
        fc = lorawan.infer_fcnt32(f.fcnt16, f.fcnt16)
        assert f.mic_ok(by_addr[f.dev_addr].nwkskey, fc)
        fcnts.append(fc)
    out.append(("LoRaWAN: FCnt inference + MIC (AES-CMAC)", clock() - t))
    t = clock()
    plains = []
    for f, fc in zip(frames_, fcnts, strict=True):
        d = by_addr[f.dev_addr]
        plains.append(f.decrypt(d.nwkskey, d.appskey, fc))
    out.append(("LoRaWAN: decrypt FRMPayload", clock() - t))
    t = clock()
    items = []
    for f, fc, p, r in zip(frames_, fcnts, plains, rxs, strict=True):
        d = by_addr[f.dev_addr]
        readings = []
        for v in payload.decode(p, {"seq": 0, "t": lg.T0}):
            seq, tt = v.pop("seq"), v.pop("t")
            readings.append(Reading(d.dev_eui, seq, tt, v))
        up = Uplink(d.dev_eui, f.dev_addr.hex(), fc, 1, f.phy, time.time(), lg.GATEWAY_EUI, r.rssi, r.snr,
                    r.freq_hz, r.datr)  # fmt: skip
        items.append((up, readings))
    out.append(("node payload decode -> Reading, Uplink records", clock() - t))
    tmp = Path(tempfile.mkdtemp(prefix="edge-bench-stage-"))
    try:
        buf = ReadingBuffer(tmp / "buffer.sqlite")
        t = clock()
        for i in range(0, n, 1024):
            buf.commit_uplinks(items[i : i + 1024])
        out.append(("buffer: commit_uplinks, batches of 1024 (the buffer's store)", clock() - t))
        buf.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [(name, 1e6 * s / n) for name, s in out]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="5000,10000,15000,20000", help="offered uplinks/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--core", type=int, default=1, help="CPU the agent is pinned to (-1: not pinned)")
    ap.add_argument("--profile", action="store_true", help="cProfile the agent at the last rate")
    ap.add_argument("--py-spy", default="", help="py-spy every agent thread at the last rate, into this file")
    args = ap.parse_args()
    core = pin_away_from(args.core)
    rates = [int(r) for r in args.rates.split(",")]
    rows = []
    for i, rate in enumerate(rates):
        prof = Path(tempfile.gettempdir()) / "edge-agent.prof" if args.profile and i == len(rates) - 1 else None
        spy = Path(args.py_spy) if args.py_spy and i == len(rates) - 1 else None
        r = run_rate(rate, args.seconds, args.devices, core, prof, spy)
        rows.append(r)
        print(json.dumps(r))
    print()
    print("load average at the end: %s" % " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    print("| offered/s | sent | committed | lost | committed/s (run) | committed/s (steady) | agent CPU µs/uplink "
          "| uplinks per agent CPU-second | peak RSS MB |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| %d | %d | %d | %d | %d | %d | %.1f | %d | %.1f |" % (
            r["offered_per_s"], r["sent_uplinks"], r["committed_uplinks"], r["lost_uplinks"],
            r["throughput_per_s"], r["steady_per_s"], r["agent_cpu_us_per_uplink"], r["uplinks_per_cpu_s"],
            r["peak_rss_mb"]))  # fmt: skip
    print()
    stages = stage_profile()
    print("| stage | µs per uplink |")
    print("|---|---:|")
    for name, us in stages:
        print("| %s | %.1f |" % (name, us))
    print("| sum of stages | %.1f |" % sum(us for _, us in stages))
    if args.py_spy:
        print()
        print(py_spy_top(Path(args.py_spy)))
    if args.profile:
        import pstats

        print()
        pstats.Stats(str(Path(tempfile.gettempdir()) / "edge-agent.prof")).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
