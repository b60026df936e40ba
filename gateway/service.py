"""A gateway service that runs one loop on its own daemon thread, for ``Agent.add_service``.

Subclasses implement ``_run()`` and return from it once ``self._stop`` is set (wait on it instead
of sleeping, so a stop is prompt). ``stop()`` sets the event and joins the thread for at most
``join_s``: a thread stuck in I/O is left behind (daemon) rather than hanging the agent's exit.
"""

from __future__ import annotations

import threading


class ThreadService:
    def __init__(self, name: str, join_s: float = 10.0) -> None:
        self._name = name
        self._join_s = join_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._join_s)
            self._thread = None

    def _run(self) -> None:
        raise NotImplementedError
