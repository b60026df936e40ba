"""Flash a board: the device bundle (firmware/host/build.py) plus its config, over mpremote's transport.

Idempotent: the board hashes what it holds first, and only files whose sha256 differs are written.
Resumable: each file goes to PATH.part and is renamed into place once complete, so a cable pull
leaves whole files (skipped next time) and at most one .part (rewritten next time); edge-bundle.json
is written last, so a board that has it carries the whole bundle. Files in the bundle's directories
that the bundle does not have (a module dropped from the manifest, a .py that would shadow its .mpy)
are removed. The datalog directory of the
config is created, parents included (firmware.datalog makes only its last level). Verified: every file is hashed
again on the board at the end. The config holds LoRaWAN keys: it must be a 0600 file on the host,
is checked with the firmware's own validator, and its keys are never printed.
"""

import ast
import json
import os
import stat
import tomllib
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

from fieldtools.link import LinkError, connect, link_failure
from fieldtools.progress import Progress

CONFIG = "config.json"
CHUNK = 512


class ConfigInvalid(ValueError):
    """The device config cannot be flashed; the message says why and how to fix it."""


@dataclass
class Report:
    port: str
    board: str
    version: str = ""
    files: int = 0
    written: list[str] = field(default_factory=list)
    bytes_written: int = 0
    verified: int = 0
    removed: list[str] = field(default_factory=list)
    identity: dict = field(default_factory=dict)


def load_config(path: str | os.PathLike, board: str) -> dict:
    """Read DEVICE.toml, check its file mode and validate it with firmware/config.py."""
    p = Path(path)
    if not p.is_file():
        raise ConfigInvalid("no config file %s: write one (see docs/field-tools.md)" % p)
    if stat.S_IMODE(p.stat().st_mode) & 0o077:
        raise ConfigInvalid("%s holds LoRaWAN keys and others can read it: chmod 600 %s" % (p, p))
    try:
        data = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigInvalid("%s is not valid TOML (%s)" % (p, e)) from None
    if data.get("board", board) != board:
        raise ConfigInvalid("%s is for board %r, not %r: pass --board %s" % (p, data["board"], board, data["board"]))
    data["board"] = board
    try:
        json.dumps(data)
    except (TypeError, ValueError) as e:
        raise ConfigInvalid(
            "%s has a value the board's JSON config cannot hold (%s): quote dates and times" % (p, e)
        ) from None
    fwconfig = import_module("firmware.config")
    hw = Path(import_module("firmware.host.build").ROOT) / "hw"
    try:
        fwconfig.Config(data, fwconfig.load_board(board, str(hw)))
    except fwconfig.ConfigError as e:
        raise ConfigInvalid("%s does not validate: %s" % (p, "; ".join(e.problems))) from None
    return data


_HASHES = """import hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(512)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(b if n == 512 else b[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
print(repr({p: _h(p) for p in %r}))
del _h
"""

_IDENTITY = """import sys, json
def _id():
    out = {'micropython': '.'.join(str(x) for x in sys.implementation.version[:3]),
           'machine': getattr(sys.implementation, '_machine', sys.platform)}
    try:
        import machine, binascii
        out['unique_id'] = binascii.hexlify(machine.unique_id()).decode()
    except Exception:
        out['unique_id'] = None
    try:
        c = json.load(open('config.json'))
        out['node_id'] = c.get('node_id')
        out['dev_eui'] = c.get('lorawan', {}).get('dev_eui')
    except Exception as e:
        out['config_error'] = repr(e)
    try:
        out['version'] = json.load(open('edge-bundle.json')).get('version')
    except Exception:
        out['version'] = None
    try:
        from firmware import config
        config.load('config.json', 'hw')
        out['config_ok'] = True
    except Exception as e:
        out['config_ok'] = False
        out['config_problems'] = getattr(e, 'problems', [repr(e)])
    return out
print(repr(_id()))
del _id
"""


def data_dir(cfg: dict) -> str:
    """The datalog directory the node will use (its config, else the firmware's default)."""
    default = import_module("firmware.config").DEFAULTS["datalog_dir"]
    return str(cfg.get("datalog", {}).get("dir", default)).rstrip("/")


_LIST = """import os
def _walk(d, out):
    try:
        entries = list(os.ilistdir(d))
    except OSError:
        return
    for e in entries:
        p = d + '/' + e[0]
        if e[1] == 0x4000:
            _walk(p, out)
        else:
            out.append(p)
_out = []
for _d in %r:
    _walk(_d, _out)
print(repr(_out))
del _walk, _out
"""


def _remove_stale(transport, files: list, keep_under: str) -> list[str]:
    """Delete files in the bundle's directories that the bundle does not have (an old module, a torn
    .part): MicroPython would import a stale .py before the new .mpy."""
    paths = {f.path for f in files}
    tops = sorted({p.split("/")[0] for p in paths if "/" in p})
    held = ast.literal_eval(transport.exec(_LIST % (tops,)).decode().strip())
    keep = keep_under.strip("/") + "/"
    stale = [p for p in held if p not in paths and not p.startswith(keep)]
    if stale:
        transport.exec("import os\nfor p in %r:\n os.remove(p)\n" % (stale,))
    return stale


def _hashes(transport, paths: list[str]) -> dict[str, str | None]:
    return ast.literal_eval(transport.exec(_HASHES % (paths,)).decode().strip())


def _dirs(paths: list[str]) -> list[str]:
    out = set()
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return sorted((d for d in out if d.strip("/")), key=lambda d: (d.count("/"), d))


def _mkdirs(transport, dirs: list[str]) -> None:
    if dirs:
        transport.exec(
            "import os\nfor d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n" % (dirs,)
        )  # fmt: skip


def _put(transport, path: str, data: bytes, progress: Progress) -> None:
    part = path + ".part"
    transport.fs_writefile(part, data, chunk_size=CHUNK, progress_callback=lambda n, _: progress.update(n, path))
    transport.exec(
        "import os\ntry:\n os.remove(%r)\nexcept OSError:\n pass\nos.rename(%r, %r)\n" % (path, part, path)
    )  # fmt: skip


def flash(port: str, board: str, config_path: str | os.PathLike, timeout_s: float | None = None) -> Report:
    """Flash board's bundle and the config to the board on port. Raises ConfigInvalid, LinkError, BuildError."""
    build = import_module("firmware.host.build")
    cfg = load_config(config_path, board)
    files = build.build(board)
    info = files.pop()  # edge-bundle.json goes last
    files += [build.BundleFile(CONFIG, json.dumps(cfg, sort_keys=True).encode()), info]
    report = Report(port=port, board=board, files=len(files))
    report.version = json.loads(info.data)["version"]
    kwargs = {} if timeout_s is None else {"timeout_s": timeout_s}
    with connect(port, **kwargs) as transport:
        try:
            held = _hashes(transport, [f.path for f in files])
            todo = [f for f in files if held.get(f.path) != f.sha256]
            _mkdirs(transport, _dirs([f.path for f in todo]))
            progress = Progress(sum(len(f.data) for f in todo), len(todo))
            for f in todo:
                _put(transport, f.path, f.data, progress)
                progress.file_done(len(f.data))
                report.written.append(f.path)
                report.bytes_written += len(f.data)
            progress.close()
            report.removed = _remove_stale(transport, files, data_dir(cfg))
            _mkdirs(transport, _dirs([data_dir(cfg) + "/"]))  # the firmware's datalog opens only its last level
            after = _hashes(transport, [f.path for f in files])
            bad = [f.path for f in files if after.get(f.path) != f.sha256]
            if bad:
                raise LinkError(
                    "%d files differ on the board after writing (%s): rerun edge flash" % (len(bad), bad[0])
                )
            report.verified = len(files)
            report.identity = ast.literal_eval(transport.exec(_IDENTITY).decode().strip())
        except LinkError:
            raise
        except Exception as e:  # serial errors, mpremote TransportError: the link broke mid-way
            raise link_failure(port, e) from None
    return report
