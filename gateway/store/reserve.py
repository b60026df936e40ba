"""Disk held back beside the buffer: a file of zeros, given back when the disk fills up so the
checkpoint and the evictions that make room have room to run, and taken again once they did."""

import os


class Reserve:
    def __init__(self, path: str, nbytes: int) -> None:
        self.path = path
        self.nbytes = nbytes

    def hold(self) -> None:
        """Write the file if it is missing; no room for it now: try again at the next call."""
        if self.nbytes <= 0 or os.path.exists(self.path):
            return
        try:
            with open(self.path, "wb") as f:
                f.write(bytes(self.nbytes))
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            self.release()

    def release(self) -> None:
        try:
            os.remove(self.path)
        except OSError:
            pass
