"""The simulator's MQTT broker and the gateway's backhaul to it.

- ``Broker``: a real ``mosquitto`` (MQTT 5 and 3.1.1) started on a free loopback port with its own
  config and persistence directory, when the executable is installed; otherwise the embedded broker
  of the amqtt package (MQTT 3.1.1 only: no properties, no shared subscriptions), run as a child
  process so it can be stopped and restarted like mosquitto. Never port 1883.
- ``Backhaul``: a TCP relay between the gateway agent and the broker, standing in for the 4G link.
  ``down()`` cuts every connection and refuses new ones until ``up()``; the platform side (the
  checker's connection to the broker) is not affected, as when a lamp post loses its modem.
  ``Backhaul(port, relay=False)`` is the link that never fails: the agent connects to the broker
  itself, and no thread in the simulator's process copies its traffic.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


class BrokerError(RuntimeError):
    """The broker could not be started or did not come up."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


_MOSQUITTO_CONF = """\
user {user}
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {dir}/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 0
log_dest file {dir}/mosquitto.log
log_type error
log_type warning
"""


class Broker:
    """One broker process on a free loopback port; start(), stop(), restart() keep the port."""

    def __init__(self, prefer: str = "auto", workdir: Path | None = None) -> None:
        mosquitto = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if prefer not in ("auto", "mosquitto", "amqtt"):
            raise BrokerError("broker must be auto, mosquitto or amqtt")
        if prefer == "mosquitto" and not mosquitto:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto), or use the embedded amqtt")
        self.kind = "mosquitto" if mosquitto and prefer != "amqtt" else "amqtt"
        self._exe = mosquitto
        self.mqtt_versions = (5, 3) if self.kind == "mosquitto" else (3,)
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="edge-sim-broker-")
        self.dir = Path(workdir) if workdir else Path(self._tmp.name)  # type: ignore[union-attr]
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return "mqtt://127.0.0.1:%d" % self.port

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _command(self) -> list[str]:
        if self.kind == "mosquitto":
            conf = self.dir / "mosquitto.conf"
            conf.write_text(_MOSQUITTO_CONF.format(port=self.port, dir=self.dir, user=getpass.getuser()))
            return [str(self._exe), "-c", str(conf)]
        return [sys.executable, "-m", "simulator.broker", "--embedded", str(self.port)]

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        log = open(self.dir / "broker.out", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            self._command(), stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[1]
        )
        log.close()
        if not wait_listening(self.port, timeout_s):
            self.stop()
            tail = (self.dir / "broker.out").read_text(errors="replace")[-500:]
            raise BrokerError("%s did not listen on port %d within %gs: %s" % (self.kind, self.port, timeout_s, tail))

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backhaul:
    """A TCP relay from a free local port to the broker: the gateway's uplink to the platform.

    With relay=False the url is the broker's own and down() is refused: for scenarios without a
    backhaul fault, whose relay would only cost the simulator's process a thread per direction.
    """

    def __init__(self, target_port: int, relay: bool = True) -> None:
        self.target_port = target_port
        self.relay = relay
        self._up = True
        self._closed = False
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self.bytes_relayed = 0
        self._listener: socket.socket | None = None
        if not relay:
            self.port = target_port
            return
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, name="backhaul-accept", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return "mqtt://127.0.0.1:%d" % self.port

    @property
    def is_up(self) -> bool:
        return self._up

    def down(self) -> None:
        if not self.relay:
            raise RuntimeError("a backhaul without relay cannot go down")
        with self._lock:
            self._up = False
            for c in self._conns:
                _close(c)
            self._conns.clear()

    def up(self) -> None:
        with self._lock:
            self._up = True

    def close(self) -> None:
        self._closed = True
        if self._listener is None:
            return
        self.down()
        _close(self._listener)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up:
                _close(client)
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                if not self._up:
                    _close(client)
                    _close(server)
                    continue
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                self.bytes_relayed += len(data)
        except OSError:
            pass
        _close(src)
        _close(dst)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


def _run_embedded(port: int) -> None:
    """The amqtt broker in this process, until terminated (``python -m simulator.broker --embedded PORT``)."""
    import asyncio
    import signal

    from amqtt.broker import Broker as AmqttBroker

    config = {
        "listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:%d" % port}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }

    async def main() -> None:
        broker = AmqttBroker(config)
        await broker.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await broker.shutdown()

    asyncio.run(main())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--embedded":
        _run_embedded(int(sys.argv[2]))
    else:
        print("usage: python -m simulator.broker --embedded PORT", file=sys.stderr)
        sys.exit(2)
