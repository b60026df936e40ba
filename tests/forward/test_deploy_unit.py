"""deploy/edge-gateway.service: runs the agent in the foreground as its own user, restarts it,
checks the installation first without letting an unreachable broker block the start."""

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "edge-gateway.service"


def unit():
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str  # type: ignore[assignment,method-assign]
    p.read(UNIT)
    return p


def test_unit_runs_the_agent_as_a_service_user_and_restarts_it():
    u = unit()
    svc = u["Service"]
    assert svc["ExecStart"].endswith("edge gateway run --config /etc/edge-gateway/gateway.toml --log-format json")
    assert svc["ExecStartPre"].startswith("-") and "edge gateway check" in svc["ExecStartPre"]
    assert svc["User"] == "edge-gateway" and svc["Restart"] == "always"
    assert svc["KillSignal"] == "SIGTERM" and svc["UMask"] == "0077"
    assert "/var/lib/edge-gateway" in svc["ReadWritePaths"]
    assert u["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit():
    r = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True)
    bad = [line for line in r.stderr.splitlines() if "edge-gateway.service" in line and "not executable" not in line
           and "User" not in line]  # fmt: skip
    assert not bad, r.stderr
