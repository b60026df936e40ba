"""Where a process's disk writes go, file by file, from an strace log (bench/agent_disk.py --trace).

    strace -f -tt -y -e trace=openat,write,pwrite64,fsync,fdatasync,ftruncate,rename -p PID -o LOG
    uv run python bench/disk_trace.py LOG [--under DIR]

/proc/<pid>/io write_bytes counts a 4 KiB page-cache block each time a clean block becomes dirty,
not the bytes of each write() call. This replays the log the same way: a write dirties the blocks
it touches, an fsync of the file cleans them, and the kernel's flusher cleans blocks dirty for
more than vm.dirty_expire_centisecs (30 s by default). So a commit that appends 600 bytes to a WAL
whose last block an earlier fsync cleaned costs 4,096. Writes through a shared mapping (SQLite's
-shm index) are invisible to strace: what the replay misses is the difference to write_bytes.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field

BLOCK = 4096  # the page-cache unit /proc/<pid>/io counts in
EXPIRE_S = 30.0  # vm.dirty_expire_centisecs / 100: the flusher writes back blocks dirty this long

_LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\d+):(\d+):(\d+\.\d+)\s+(\w+)\((.*)$")
_FD = re.compile(r"^(\d+)<([^>]*)>")
_RESULT = re.compile(r"=\s+(-?\d+)")


@dataclass
class FileStat:
    writes: int = 0
    logical: int = 0  # bytes passed to write calls
    dirtied: int = 0  # bytes of 4 KiB blocks made dirty (what write_bytes counts)
    syncs: int = 0
    dirty: dict[int, float] = field(default_factory=dict)  # block -> when it became dirty


def kind(path: str) -> str:
    """A file's role, so metrics.json.tmp and metrics.json count as one."""
    name = path.rsplit("/", 1)[-1]
    if name.startswith("metrics.json"):
        return "metrics.json"
    return name


def replay(lines, under: str = "") -> dict[str, FileStat]:
    stats: dict[str, FileStat] = defaultdict(FileStat)
    pos: dict[int, int] = {}  # fd -> file position (threads share one table)
    last_tick = None
    unfinished: dict[str, str] = {}  # pid -> start of a call another thread's line interrupted
    for line in lines:
        line = line.rstrip("\n")
        pid = line.split(None, 1)[0] if line else ""
        if line.endswith("<unfinished ...>"):
            unfinished[pid] = line[: -len("<unfinished ...>")].rstrip()
            continue
        if "resumed>" in line and pid in unfinished:
            line = unfinished.pop(pid) + line.split("resumed>", 1)[1]
        m = _LINE.match(line)
        if m is None:
            continue
        _, hh, mm, ss, call, rest = m.groups()
        now = int(hh) * 3600 + int(mm) * 60 + float(ss)
        if last_tick is None or now - last_tick >= 5.0:  # the flusher wakes every 5 s
            last_tick = now
            for st in stats.values():
                for b in [b for b, t in st.dirty.items() if now - t >= EXPIRE_S]:
                    del st.dirty[b]
        res = _RESULT.search(rest.rsplit(")", 1)[-1])
        if res is None or int(res.group(1)) < 0:
            continue
        ret = int(res.group(1))
        if call == "openat":
            fd = _FD.match(rest.rsplit("= ", 1)[-1])
            if fd:
                pos[int(fd.group(1))] = 0
                if "O_TRUNC" in rest:
                    stats[kind(fd.group(2))].dirty.clear()
            continue
        fd = _FD.match(rest)
        if fd is None or not fd.group(2).startswith(under):
            continue
        n, st = int(fd.group(1)), stats[kind(fd.group(2))]
        if call in ("fsync", "fdatasync"):
            st.syncs += 1
            st.dirty.clear()
        elif call == "ftruncate":
            size = int(rest.split(",")[1].split(")")[0])
            for b in [b for b in st.dirty if b * BLOCK >= size]:
                del st.dirty[b]
        elif call in ("write", "pwrite64"):
            if call == "pwrite64":
                offset = int(rest.rsplit(",", 1)[1].split(")")[0])
            else:
                offset = pos.get(n, 0)
                pos[n] = offset + ret
            st.writes += 1
            st.logical += ret
            for b in range(offset // BLOCK, (offset + max(ret, 1) - 1) // BLOCK + 1):
                if b not in st.dirty:
                    st.dirty[b] = now
                    st.dirtied += BLOCK
    return dict(stats)


def table(stats: dict[str, FileStat], readings: int) -> str:
    out = ["| file | writes | bytes passed | fsyncs | blocks dirtied (bytes) | dirtied bytes/reading |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    total = 0
    for name, st in sorted(stats.items(), key=lambda kv: -kv[1].dirtied):
        total += st.dirtied
        per = st.dirtied / readings if readings else 0.0
        out.append("| %s | %d | %d | %d | %d | %.1f |" % (name, st.writes, st.logical, st.syncs, st.dirtied, per))
    out.append("| all | | | | %d | %.1f |" % (total, total / readings if readings else 0.0))
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--under", default="", help="only files under this directory")
    ap.add_argument("--readings", type=int, default=0, help="readings in the traced window")
    args = ap.parse_args()
    with open(args.log, encoding="utf-8", errors="replace") as f:
        print(table(replay(f, args.under), args.readings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
