"""Download a node's datalog over USB, for sites without radio coverage.

The board runs firmware.datalog itself (through mpremote's transport): it opens the log directory
its config names, reads the sequence range and prints one JSON reading per line, which the host
writes as CSV or SenML-JSON (RFC 8428, the names and units of docs/platform.md). Readings still
waiting in RAM or RTC memory for their batch to be written are not on flash and not included.
"""

import ast
import csv
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path

from fieldtools.link import LinkError, connect, link_failure

READ_TIMEOUT_S = 30

_READ = """import json, os
from firmware import config, datalog
def _dl(first, last):
    c = config.load('config.json', 'hw')
    d = c.datalog
    try:
        os.stat(d['dir'])
    except OSError:
        print('@' + repr({'dev_eui': c.lorawan.get('dev_eui'), 'node_id': c.node_id, 'first': 1, 'last': 0,
                          'acked': 0}))
        return
    log = datalog.Datalog(d['dir'], d['budget_bytes'], batch=d['batch'])
    ls = log.last_seq
    ls = ls() if callable(ls) else ls
    lo = log.first_seq if first is None else first
    hi = ls if last is None else min(last, ls)
    print('@' + repr({'dev_eui': c.lorawan.get('dev_eui'), 'node_id': c.node_id, 'first': log.first_seq,
                      'last': ls, 'acked': log.acked_seq}))
    if lo <= hi:
        for r in log.read(lo, hi):
            print(json.dumps(r))
_dl(%r, %r)
del _dl
"""


@dataclass
class Download:
    dev_eui: str | None = None
    node_id: str = ""
    first: int = 0
    last: int = 0
    acked: int = 0
    readings: list[dict] = field(default_factory=list)


def read(port: str, first: int | None = None, last: int | None = None, timeout_s: float | None = None) -> Download:
    """The readings first..last (default: all the log holds) of the board on port."""
    kwargs = {} if timeout_s is None else {"timeout_s": timeout_s}
    received = bytearray()
    lines = [0]
    tty = sys.stderr.isatty()

    def collect(data: bytes) -> None:  # mpremote hands the output over byte by byte and keeps none
        received.extend(data)
        if tty and data == b"\n":  # a 115200-baud board sends ~150 readings a second: show it moves
            lines[0] += 1
            sys.stderr.write("\r%d readings read\x1b[K" % max(0, lines[0] - 1))

    with connect(port, **kwargs) as transport:
        try:
            _, err = transport.exec_raw(_READ % (first, last), timeout=READ_TIMEOUT_S, data_consumer=collect)
            out = bytes(received).rstrip(b"\x04")
            if tty:
                sys.stderr.write("\r\x1b[K")
        except Exception as e:
            raise link_failure(port, e) from None
    if err:
        lines = err.decode(errors="replace").strip().splitlines() or [""]
        raise LinkError("the board could not read its datalog (%s): flash the firmware and a valid config" % lines[-1])
    d = Download()
    for line in out.decode().splitlines():
        if line.startswith("@"):
            head = ast.literal_eval(line[1:])
            eui = head["dev_eui"]
            d.dev_eui = eui.hex() if isinstance(eui, bytes) else eui
            d.node_id, d.first, d.last, d.acked = head["node_id"], head["first"], head["last"], head["acked"]
        elif line.strip():
            d.readings.append(json.loads(line))
    return d


def _quantities(readings: list[dict]) -> list[str]:
    names = import_module("edge.vocab").NAMES
    present = {k for r in readings for k in r}
    return [q for q in names if q in present]


def write_csv(d: Download, path: Path) -> None:
    qs = _quantities(d.readings)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seq", "t", "time_utc"] + qs)
        for r in d.readings:
            iso = datetime.fromtimestamp(r["t"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            w.writerow([r["seq"], r["t"], iso] + ["" if r.get(q) is None else r[q] for q in qs])


def senml_records(d: Download) -> list[dict]:
    """SenML-JSON records: base name urn:dev:mac:<dev_eui>: and the units of edge.vocab, each in u."""
    vocab = import_module("edge.vocab")
    senml = import_module("gateway.forward.senml")
    records: list[dict] = []
    if not d.readings:
        return records
    bt = d.readings[0]["t"]
    for r in d.readings:
        for q in vocab.NAMES:
            if r.get(q) is None:
                continue
            rec = {"n": q, "u": vocab.unit(q), "v": r[q], "t": r["t"] - bt}
            if not records:
                rec = {"bn": senml.base_name(d.dev_eui or "unknown"), "bt": bt, **rec}
            records.append(rec)
    if any(rec["u"] in senml.SECONDARY_UNITS for rec in records):
        records[0] = {"bver": senml.BVER_SECONDARY_UNITS, **records[0]}
    return records


def write(d: Download, path: Path, fmt: str) -> None:
    if fmt == "csv":
        write_csv(d, path)
    else:
        path.write_text(json.dumps(senml_records(d), indent=1) + "\n")
