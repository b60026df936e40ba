"""Disk held back beside the buffer: a file of zeros, given back when the disk fills up so the
checkpoint and the evictions that make room have room to run, and taken again once they did.

On a small filesystem the reserve is at most FS_SHARE of it, so that it can be held at all. At
start the agent gives it back when the disk has less free space than the reserve: opening SQLite
files in WAL mode needs a little room (the -shm index, the counter log's fold) and a restart after
a full disk must not fail for want of it.
"""

import os

FS_SHARE = 8  # the reserve takes at most 1/8 of the filesystem ...
# ... but no less than opening the agent's files takes: the registry's and the buffer's 32 KiB -shm
# indexes (SQLite WAL mode), their WAL headers and the counter log's fold
OPEN_BYTES = 128 * 1024


def fs_share(directory: str) -> int:
    """FS_SHARE of the filesystem holding directory, in bytes (0 when it cannot be told)."""
    try:
        fs = os.statvfs(directory)
    except OSError:
        return 0
    return fs.f_blocks * fs.f_frsize // FS_SHARE


def wal_pages(directory: str, page_size: int, most: int) -> int:
    """Pages a WAL may reach before its checkpoint: most, or fewer on a small disk, where the WAL
    stays under half of FS_SHARE (the reserve), so that a checkpoint always finds room once the
    reserve is given back."""
    share = fs_share(directory)
    if share <= 0:
        return most
    return max(16, min(most, share // 2 // page_size))


class Reserve:
    def __init__(self, path: str, nbytes: int) -> None:
        self.path = path
        self.nbytes = nbytes
        self._dir = os.path.dirname(os.path.abspath(path))

    def hold(self) -> None:
        """Write the file if it is missing; no room for it now: try again at the next call."""
        if self.nbytes <= 0 or os.path.exists(self.path):
            return
        try:
            size = self.size()
            with open(self.path, "wb") as f:
                f.write(bytes(size))
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            self.release()

    def size(self) -> int:
        """The bytes held: nbytes, or FS_SHARE of a smaller filesystem."""
        return self._size(fs_share(self._dir))

    def _size(self, share: int) -> int:
        return min(self.nbytes, max(share, OPEN_BYTES)) if share > 0 else self.nbytes

    def tight(self) -> bool:
        """True when the disk has less free space than the reserve's size (one statvfs: it runs
        after every commit)."""
        try:
            fs = os.statvfs(self._dir)
        except OSError:
            return False
        return fs.f_bavail * fs.f_frsize < self._size(fs.f_blocks * fs.f_frsize // FS_SHARE)

    def release_if_tight(self) -> bool:
        """Give the reserve back when the disk has less free space than it; True when it did."""
        if not os.path.exists(self.path) or not self.tight():
            return False
        self.release()
        return True

    def release(self) -> None:
        try:
            os.remove(self.path)
        except OSError:
            pass
