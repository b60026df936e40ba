"""A one-line progress bar on stderr (only when stderr is a terminal: logs stay clean)."""

import sys
from typing import TextIO


class Progress:
    def __init__(self, total_bytes: int, total_files: int, stream: TextIO | None = None, width: int = 30):
        self.total_bytes = max(1, total_bytes)
        self.total_files = total_files
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done_bytes = 0
        self.done_files = 0
        self.enabled = self.stream.isatty()

    def update(self, file_bytes: int, name: str) -> None:
        """file_bytes: bytes of the current file written so far."""
        if not self.enabled:
            return
        done = self.done_bytes + file_bytes
        filled = self.width * done // self.total_bytes
        self.stream.write(
            "\r[%s%s] %3d%% %d/%d files  %s\x1b[K"
            % (
                "#" * filled,
                "-" * (self.width - filled),
                100 * done // self.total_bytes,
                self.done_files,
                self.total_files,
                name,
            )  # fmt: skip
        )
        self.stream.flush()

    def file_done(self, size: int) -> None:
        self.done_bytes += size
        self.done_files += 1

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
