"""End to end on a virtual board (the real MicroPython VM behind a real pty): flash, run a measurement
cycle of the real firmware on the board, restart the board, download its log; mpremote against it."""

import ast
import csv
import json
import signal
import subprocess
import sys
import time

import pytest

from fieldtools.link import connect
from fieldtools.vboard import VirtualBoard
from firmware.host.build import build
from tests.fieldtools.boardkit import APP_KEY, ROOT, device_config, edge, edge_bg

pytestmark = pytest.mark.slow

# The firmware's own bench kit (tests/device/fw_kit.py) stands in for the sensors and the modem a
# virtual board lacks; the firmware itself is the flashed .mpy bundle.
BENCH_FILES = ["tests/__init__.py", "tests/device/__init__.py", "tests/device/fw_kit.py", "simulator/__init__.py"]
BENCH_FILES += ["simulator/devices/%s.py" % m for m in ("__init__", "base", "i2c", "pins", "sds011", "sht4x",
                                                          "sps30", "sht3x", "bme280", "dnms", "pcb_db")]  # fmt: skip

CYCLE = """
from firmware import config
from firmware.app import Node
from edge.clock import VirtualClock
from tests.device.fw_kit import BenchHAL, BenchModem, START
from simulator.devices.sds011 import SDS011Emulator
from simulator.devices.sht4x import SHT4xEmulator
cfg = config.load('config.json', 'hw')
clock = VirtualClock(unix_start=START)
hal = BenchHAL(clock, cfg.board)
hal.uarts['modem'] = BenchModem(clock)
pm = hal.uarts['pm'] = SDS011Emulator(clock=clock)
pm.set(pm2_5=12.3, pm10=20.0)
th = hal.i2c0.attach(SHT4xEmulator(clock=clock))
th.set(temperature=21.5, humidity=48.0)
node = Node(hal, cfg)
for i in range(%d):
    r = node.run_interval()
    print(repr(r))
print('uplinks', len(hal.uarts['modem'].payloads))
"""


def test_flash_cycle_restart_and_log_download(tmp_path):
    flash_dir = tmp_path / "flash"
    cfg = device_config(tmp_path)
    with VirtualBoard(flash_dir) as board:
        r = edge("flash", "--port", board.port, "--board", "esp32-devkitc", "--config", str(cfg))
        assert r.returncode == 0, r.stderr
        n = len(build("esp32-devkitc")) + 1  # the bundle and config.json
        assert "%d written" % n in r.stdout and "%d/%d verified by sha256" % (n, n) in r.stdout
        assert "node_id lamp-0042, dev_eui 70b3d57ed0000042" in r.stdout
        assert "config: valid on the board" in r.stdout
        assert APP_KEY not in r.stdout + r.stderr
        # the virtual flash on the host holds the keys: owner-only, like any key file
        assert (flash_dir / "config.json").stat().st_mode & 0o077 == 0
        assert APP_KEY in (flash_dir / "config.json").read_text()
        # idempotent: nothing changed, nothing written
        again = edge("flash", "--port", board.port, "--board", "esp32-devkitc", "--config", str(cfg))
        assert again.returncode == 0 and "0 written" in again.stdout and "%d unchanged" % n in again.stdout
        # a stale source module would shadow its .mpy: flashing removes it
        with connect(board.port) as t:
            t.fs_writefile("firmware/app.py", b"raise ImportError('stale')\n")
        again = edge("flash", "--port", board.port, "--board", "esp32-devkitc", "--config", str(cfg))
        assert again.returncode == 0 and "removed 1 stale file: firmware/app.py" in again.stdout
        assert not (flash_dir / "firmware" / "app.py").exists()
        # the flash directory on the host holds what the board holds, byte for byte
        for f in build("esp32-devkitc"):
            assert (flash_dir / f.path).read_bytes() == f.data, f.path
        # one measurement cycle of the flashed firmware, three intervals
        with connect(board.port) as t:
            for rel in BENCH_FILES:
                parts = rel.split("/")
                for i in range(1, len(parts)):
                    t.exec("import os\ntry:\n os.mkdir(%r)\nexcept OSError:\n pass" % "/".join(parts[:i]))
                t.fs_writefile(rel, (ROOT / rel).read_bytes(), chunk_size=512)
            out = t.exec(CYCLE % 3).decode()
        readings = [ast.literal_eval(line) for line in out.splitlines() if line.startswith("{")]
        assert [x["seq"] for x in readings] == [1, 2, 3]
        assert abs(readings[0]["pm2_5"] - 12.3) < 0.2 and abs(readings[0]["temperature"] - 21.5) < 0.1
        assert "uplinks 3" in out
        # the firmware's default datalog directory, prepared by edge flash, now holds the log on flash
        assert any((flash_dir / "data" / "log").iterdir())
    # the board is off; on restart its flash is what it was: the bundle, the config, the datalog
    with VirtualBoard(flash_dir) as board:
        out_csv = tmp_path / "log.csv"
        r = edge("device", "logs", "--port", board.port, "--out", str(out_csv))
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(out_csv.open()))
        # batch = 2: seq 1 and 2 are on flash, seq 3 waited in RAM for its batch partner
        assert [int(x["seq"]) for x in rows] == [1, 2]
        assert abs(float(rows[0]["pm2_5"]) - 12.3) < 0.2 and abs(float(rows[1]["humidity"]) - 48.0) <= 0.5
        assert rows[0]["time_utc"].endswith("Z")
        out_json = tmp_path / "log.json"
        r = edge("device", "logs", "--port", board.port, "--out", str(out_json), "--from", "2", "--to", "2")
        assert r.returncode == 0, r.stderr
        pack = json.loads(out_json.read_text())
        assert pack[0]["bn"] == "urn:dev:mac:70b3d57ed0000042:" and pack[0]["bver"] == 26
        names = {rec["n"] for rec in pack}
        assert {"pm2_5", "pm10", "temperature", "humidity"} <= names
        assert all(pack[0]["bt"] + rec["t"] == int(rows[1]["t"]) for rec in pack)


def test_cable_pull_mid_copy_then_resume(tmp_path):
    flash_dir = tmp_path / "flash"
    cfg = device_config(tmp_path)
    board = VirtualBoard(flash_dir).start()
    proc = edge_bg("flash", "--port", board.port, "--board", "esp32-devkitc", "--config", str(cfg))
    deadline = time.monotonic() + 60
    while len(list(flash_dir.rglob("*.mpy"))) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    board.stop(pull_cable=True)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "lost the link" in err and "rerun" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    held = {p.relative_to(flash_dir).as_posix() for p in flash_dir.rglob("*") if p.is_file()}
    assert "edge-bundle.json" not in held  # written last: this board is not complete
    whole = {f.path for f in build("esp32-devkitc") if f.path in held}
    assert whole  # whole files from before the pull stay
    with VirtualBoard(flash_dir) as board:
        r = edge("flash", "--port", board.port, "--board", "esp32-devkitc", "--config", str(cfg))
        assert r.returncode == 0, r.stderr
        n = len(build("esp32-devkitc")) + 1
        assert "%d/%d verified" % (n, n) in r.stdout
        unchanged = int(r.stdout.split(" unchanged")[0].rsplit(",", 1)[1])
        assert unchanged >= len(whole)  # resumed: what arrived whole before the pull is not sent again
    assert not [p for p in flash_dir.rglob("*.part")]


def test_sim_board_command_and_mpremote(tmp_path):
    port_file = tmp_path / "port"
    proc = edge_bg("sim", "board", "--flash", str(tmp_path / "flash"), "--port-file", str(port_file))
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        port = port_file.read_text().strip()
        mpremote = [sys.executable, "-m", "mpremote", "connect", port]
        r = subprocess.run(
            mpremote + ["exec", "f = open('note.txt', 'w'); f.write('kept'); f.close(); print(6 * 7)"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 0 and r.stdout.strip() == "42", r.stderr
        r = subprocess.run(mpremote + ["fs", "cat", ":note.txt"], capture_output=True, text=True, timeout=60)
        assert r.stdout.strip() == "kept"
        r = subprocess.run(mpremote + ["fs", "cat", ":missing.txt"], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "No such file" in r.stderr + r.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in out
    assert (tmp_path / "flash" / "note.txt").read_text() == "kept"


def test_raw_paste_with_flow_control(tmp_path):
    # a command of several windows: mpremote must wait for the board's grants, and keeps raw-paste on
    with VirtualBoard(tmp_path / "flash") as board, connect(board.port) as t:
        out = t.exec("x = '%s'\nprint(len(x))" % ("a" * 3000))
        assert out.strip() == b"3000"
        assert t.use_raw_paste  # mpremote turns it off for good when a board refuses raw-paste
        with pytest.raises(Exception, match="ZeroDivisionError"):
            t.exec("1/0")
        assert t.exec("print('still here')").strip() == b"still here"
