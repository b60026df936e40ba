"""Helpers for the virtual-board tests: a device config file, the edge command in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_KEY = "2b7e151628aed2a6abf7158809cf4f3c"

CONFIG = """node_id = "lamp-0042"
interval_s = 300

[lorawan]
dev_eui = "70b3d57ed0000042"
join_eui = "0000000000000001"
app_key = "%s"
dr = 5

[[sensors]]
type = "sds011"
uart = "pm"

[[sensors]]
type = "sht4x"
i2c = 0

[datalog]
batch = 2

[uplink]
fair_use_s_per_day = 0
"""


def device_config(tmp_path: Path, app_key: str = APP_KEY, mode: int = 0o600) -> Path:
    path = tmp_path / "lamp-0042.toml"
    path.write_text(CONFIG % app_key)
    path.chmod(mode)
    return path


def edge(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "hostshims")]))
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *argv], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout
    )


def edge_bg(*argv: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "hostshims")]))
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT, env=env,
    )  # fmt: skip
