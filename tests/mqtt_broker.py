"""A real Mosquitto for tests and benchmarks: own process, free loopback port, generated config.

    with MosquittoBroker(tmp_path) as broker:            # plain MQTT on 127.0.0.1:<free port>
        ...broker.host, broker.port...
        broker.stop(); broker.start()                     # same port, e.g. for an outage
    MosquittoBroker(tmp_path, tls=True)                   # TLS; broker.tls has CA, client cert and key
    MosquittoBroker(tmp_path, users={"gw": "secret"})     # password auth, anonymous refused
    MosquittoBroker(tmp_path, persistence=True)           # keeps sessions and queues across restarts

Never uses the Mosquitto that may already listen on 1883. Subscriber collects what a topic
filter receives, in a paho thread. Needs /usr/sbin/mosquitto (Debian package mosquitto).
"""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


class MosquittoBroker:
    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        tls: bool = False,
        require_client_cert: bool = True,
        users: dict[str, str] | None = None,
        persistence: bool = False,
        max_inflight: int = 0,
        extra_conf: str = "",
        port: int | None = None,
        name: str = "broker",
    ) -> None:
        if not os.path.exists(MOSQUITTO):
            raise RuntimeError("mosquitto is not installed (Debian package mosquitto)")
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.tls = make_tls_files(self.dir) if tls else None
        self.users = dict(users or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "mosquitto.log"
        self.conf_path = self.dir / "mosquitto.conf"
        lines = [
            "user %s" % getpass.getuser(),
            "listener %d %s" % (self.port, self.host),
            "log_dest file %s" % self.log_path,
            "log_type error",
            "log_type warning",
            "log_type notice",
            "max_queued_messages 0",
            "max_inflight_messages %d" % max_inflight,
        ]
        if self.users:
            pw = self.dir / "passwd"
            pw.write_text("")
            pw.chmod(0o600)
            for user, password in self.users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), user, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", "password_file %s" % pw]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            lines += [
                "cafile %s" % self.tls.ca_cert,
                "certfile %s" % self.tls.server_cert,
                "keyfile %s" % self.tls.server_key,
                "require_certificate %s" % ("true" if require_client_cert else "false"),
            ]
        if persistence:
            lines += ["persistence true", "persistence_location %s/" % self.dir, "autosave_interval 1"]
        self.conf_path.write_text("\n".join(lines) + "\n" + extra_conf)

    @property
    def url(self) -> str:
        return "%s://%s:%d" % ("mqtts" if self.tls else "mqtt", self.host, self.port)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        if self.running:
            return self
        deadline = time.monotonic() + timeout
        while True:
            self._proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            if self._wait_listening(deadline):
                return self
            err = b""
            if self._proc.poll() is not None and self._proc.stderr is not None:
                err = self._proc.stderr.read()
            self._terminate()
            if time.monotonic() > deadline:
                log = self.log_path.read_text() if self.log_path.exists() else ""
                raise RuntimeError("mosquitto did not start on port %d: %s %s" % (self.port, err.decode(), log))
            time.sleep(0.2)  # port still in TIME_WAIT or taken: retry

    def _wait_listening(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Stop cleanly (SIGTERM): with persistence, the broker saves its state."""
        self._terminate()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), like a crash or a pulled cable on the broker side."""
        if self.running and self._proc is not None:
            self._proc.send_signal(signal.SIGKILL)
        self._terminate()

    def restart(self) -> MosquittoBroker:
        self.stop()
        return self.start()

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Subscriber:
    """Collects (topic, payload, properties) of every message matching `topic` (QoS 1, MQTT 5)."""

    def __init__(
        self,
        broker: MosquittoBroker,
        topic: str,
        *,
        username: str | None = None,
        password: str = "",
        persistent_id: str | None = None,
    ) -> None:
        """persistent_id: keep a session under this client id (with a persistent broker, nothing
        published while this subscriber is cut off is lost); it reconnects by itself."""
        self.messages: list[tuple[str, bytes, mqtt.MQTTMessage]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=persistent_id or "", protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(0.05, 0.5)
        if username:
            self.client.username_pw_set(username, password)
        if broker.tls:
            self.client.tls_set(broker.tls.ca_cert, broker.tls.client_cert, broker.tls.client_key)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_message = self._on_message
        props = None
        if persistent_id:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.client.connect(broker.host, broker.port, clean_start=not persistent_id, properties=props)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise RuntimeError("could not subscribe to %s on %s" % (topic, broker.url))

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), msg))

    def snapshot(self) -> list[tuple[str, bytes, mqtt.MQTTMessage]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            time.sleep(0.02)
        return predicate(self.snapshot())

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def make_tls_files(directory: Path) -> TlsFiles:
    """A throw-away CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))  # fmt: skip

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("edge test CA"))
        .issuer_name(name("edge test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, server: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            b = b.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return b.sign(ca_key, hashes.SHA256()), key

    server, server_key = leaf("127.0.0.1", True)
    client, client_key = leaf("edge-gateway-test", False)
    files = TlsFiles(*(str(directory / n) for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")))
    Path(files.ca_cert).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    Path(files.server_cert).write_bytes(server.public_bytes(serialization.Encoding.PEM))
    Path(files.client_cert).write_bytes(client.public_bytes(serialization.Encoding.PEM))
    write_key(Path(files.server_key), server_key)
    write_key(Path(files.client_key), client_key)
    return files
