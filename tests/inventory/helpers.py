"""Run `edge` commands on a fresh gateway config: in this process (the real entry point,
`cli.main.main`, its output captured) for speed, or as the installed command."""

from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path

from cli.main import main

DEV1 = "70b3d57ed0000001"
DEV2 = "70b3d57ed0000002"
APP_KEY = "000102030405060708090a0b0c0d0e0f"


def edge(*args: str) -> subprocess.CompletedProcess[str]:
    """`edge ARGS` through cli.main.main in this process; exit code, stdout and stderr as a subprocess's."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse usage errors
            code = e.code if isinstance(e.code, int) else 2
    return subprocess.CompletedProcess(["edge", *args], code, out.getvalue(), err.getvalue())


def edge_cmd(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed `edge` command in its own process."""
    return subprocess.run(["edge", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def gateway(tmp_path: Path, mqtt_url: str = "", register: tuple[str, ...] = (DEV1,)) -> str:
    """A config (with a broker only when mqtt_url is given) and OTAA devices registered."""
    cfg = tmp_path / "gw.toml"
    extra = ("--mqtt-url", mqtt_url) if mqtt_url else ()
    r = edge("gateway", "init", "--config", str(cfg), "--gateway-id", "lamp-7", "--data-dir", str(tmp_path / "data"),
             *extra)  # fmt: skip
    assert r.returncode == 0, r.stderr
    for eui in register:
        r = edge("gateway", "device", "add", "--config", str(cfg), "--dev-eui", eui, "--otaa",
                 "--join-eui", "00000000000000aa", "--app-key", APP_KEY)  # fmt: skip
        assert r.returncode == 0, r.stderr
    return str(cfg)
