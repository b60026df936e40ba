"""A virtual board on a pseudo-terminal: the real MicroPython VM (fieldtools/board.mjs under Node.js)
behind a real pty, so ``mpremote connect /dev/pts/N`` and ``edge flash --port /dev/pts/N`` talk to
it as they would to a board on a USB cable. Its flash is a host directory that survives restarts.

What it does not model is listed in board.mjs: no ``machine`` module, no main.py at boot, no
interrupt of running code. Stopping it is a cable pull: the port disappears mid-transfer.
"""

import os
import select
import shutil
import subprocess
import threading
import tty
from pathlib import Path

BRIDGE = Path(__file__).resolve().parent / "board.mjs"
ROOT = BRIDGE.parent.parent
DEFAULT_HEAP = 2 * 1024 * 1024
BOOT_TIMEOUT_S = 20.0


class BoardError(RuntimeError):
    """The virtual board could not start; the message says what is missing."""


class VirtualBoard:
    """Start with start(); .port is the pty path; stop() ends the VM (syncing its flash first)."""

    def __init__(self, flash_dir: str | os.PathLike, heap: int = DEFAULT_HEAP):
        self.flash_dir = Path(flash_dir)
        self.heap = heap
        self.port = ""
        self._proc: subprocess.Popen | None = None
        self._master = -1
        self._slave = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> "VirtualBoard":
        node = shutil.which("node")
        if node is None:
            raise BoardError("Node.js is not installed: install it (apt-get install nodejs), then run npm ci")
        if not (ROOT / "node_modules" / "@micropython" / "micropython-webassembly-pyscript").is_dir():
            raise BoardError("the MicroPython VM package is missing: run npm ci in %s" % ROOT)
        self.flash_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._proc = subprocess.Popen(
            [node, str(BRIDGE), "--flash", str(self.flash_dir), "--heap", str(self.heap)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        self._wait_for_banner()
        self._thread = threading.Thread(target=self._relay, name="vboard-relay", daemon=True)
        self._thread.start()
        return self

    def _wait_for_banner(self) -> None:
        """Read the VM's banner up to the first prompt and pass it on to the pty."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        seen = b""
        while not seen.endswith(b">>> "):
            ready, _, _ = select.select([fd], [], [], BOOT_TIMEOUT_S)
            chunk = os.read(fd, 4096) if ready else b""
            if not chunk:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self.stop()
                raise BoardError("the MicroPython VM did not start: %s" % (err.strip().splitlines() or ["timeout"])[-1])
            seen += chunk
        os.write(self._master, seen)

    def _relay(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        to_vm, from_vm = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master, from_vm], [], [], 0.2)
                if self._master in ready:
                    os.write(to_vm, os.read(self._master, 4096))
                if from_vm in ready:
                    data = os.read(from_vm, 4096)
                    if not data:
                        break  # the VM exited
                    os.write(self._master, data)
            except OSError:
                break

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, pull_cable: bool = False) -> None:
        """End the board. pull_cable: kill the VM at once, as an unplugged cable would."""
        self._stop.set()
        if self._proc is not None:
            if pull_cable:
                self._proc.kill()
            else:
                self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr) if self._proc else ():
            if stream is not None:
                stream.close()

    def __enter__(self) -> "VirtualBoard":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
