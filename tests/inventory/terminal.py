"""A command run on a real pseudo-terminal (pty.fork: the pty is its controlling terminal, so
getpass reads it without echo), with expect/send in the spirit of pexpect."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time


class Terminal:
    def __init__(self, argv: list[str], cwd: str | None = None) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child: the pty is stdin, stdout, stderr and /dev/tty
            try:
                if cwd:
                    os.chdir(cwd)
                os.execvp(argv[0], argv)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.transcript = ""  # everything the terminal showed
        self._pos = 0  # where the next expect starts looking
        self.returncode: int | None = None

    def _fill(self, deadline: float) -> bool:
        wait = max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.transcript += data.decode(errors="replace").replace("\r\n", "\n")
        return True

    def expect(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.transcript, self._pos)
            if m:
                self._pos = m.end()
                return m
            if time.monotonic() >= deadline or not self._fill(deadline):
                if time.monotonic() >= deadline or self._exited():
                    raise AssertionError("%r not seen; terminal showed:\n%s" % (pattern, self.transcript))

    def send(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def _exited(self) -> bool:
        if self.returncode is not None:
            return True
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid:
            self.returncode = os.waitstatus_to_exitcode(status)
            return True
        return False

    def wait(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            self._fill(min(deadline, time.monotonic() + 0.1))
            if not self._exited() and time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                raise AssertionError("still running; terminal showed:\n%s" % self.transcript)
        while self._fill(time.monotonic() + 0.05):
            pass
        os.close(self.fd)
        return self.returncode
