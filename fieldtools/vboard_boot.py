# Runs inside the virtual board's MicroPython VM at every boot (fieldtools/board.mjs), never on the host.
#
# The WebAssembly port raises file-system errors with Emscripten's WASI errno numbers (ENOENT is 44)
# while its errno module holds the Linux numbers every real MicroPython port uses (ENOENT is 2), so
# `e.errno == errno.ENOENT` fails and mpremote cannot tell a missing file from a broken link. This
# wraps open() and the os file functions to raise OSError with the numbers a real board raises.
import builtins
import os

_WASI_TO_LINUX = {2: 13, 6: 11, 8: 9, 10: 16, 20: 17, 28: 22, 29: 5, 31: 21, 43: 19, 44: 2, 48: 12,
                  51: 28, 54: 20, 55: 39, 58: 95, 63: 1}  # fmt: skip


def _wrap(fn):
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OSError as e:
            code = e.args[0] if e.args else None
            if code in _WASI_TO_LINUX:
                raise OSError(_WASI_TO_LINUX[code]) from None
            raise

    return call


_HIDDEN = ("dev", "proc", "tmp", "home")  # Emscripten's own directories, not the board's flash


def _at_root(path):
    return path == "/" or (path in ("", ".") and os.getcwd() == "/")


def _ilistdir(path=""):
    # a real board's ilistdir gives (name, type, inode, size); hide what is not flash
    base = path or "."
    for entry in _ilistdir_raw(base):
        if _at_root(path) and entry[0] in _HIDDEN:
            continue
        if len(entry) == 3:
            size = 0 if entry[1] == 0x4000 else os.stat(base + "/" + entry[0])[6]
            entry = (entry[0], entry[1], entry[2], size)
        yield entry


def _listdir(path=""):
    return [e[0] for e in _ilistdir(path)]


builtins.open = _wrap(builtins.open)
for _name in ("stat", "remove", "rename", "mkdir", "rmdir", "listdir", "ilistdir", "chdir", "statvfs"):
    if hasattr(os, _name):
        setattr(os, _name, _wrap(getattr(os, _name)))
del _name
_ilistdir_raw = os.ilistdir  # type: ignore[attr-defined]  # MicroPython's os
os.ilistdir = _ilistdir  # type: ignore[attr-defined]
os.listdir = _listdir
