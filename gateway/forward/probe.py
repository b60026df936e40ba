"""One-shot checks an installer runs before starting the agent (`edge gateway check`)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from gateway.forward.client import connect, new_client
from gateway.forward.settings import ForwarderSettings
from gateway.registry import RegistryError, check_private


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str


def probe_broker(s: ForwarderSettings, timeout: float = 10.0) -> Result:
    """Connect with the agent's settings (TLS, client certificate, password) and wait for CONNACK."""
    name = "broker %s:%d (MQTT %s%s%s)" % (s.host, s.port, s.protocol, ", TLS" if s.tls else "",
                                           ", user %s" % s.username if s.username else "")  # fmt: skip
    options = s.mqtt_options("-check")
    try:
        c = new_client(options)
        result: list[tuple[object, object]] = []
        c.on_connect = lambda cl, u, f, rc, props: result.append((rc, props))
        connect(c, options)
        end = time.monotonic() + timeout
        while not result and time.monotonic() < end:
            if c.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS and not result:
                break
    except (OSError, ssl.SSLError, ValueError) as e:
        return Result(name, False, "cannot connect: %s: %s" % (type(e).__name__, e))
    if not result:
        return Result(
            name, False, "no CONNACK within %.0f s (wrong port, TLS on a plain port, or a firewall?)" % timeout
        )
    rc, cprops = result[0]
    try:
        c.disconnect()
    except Exception:
        pass
    if getattr(rc, "is_failure", False):
        return Result(name, False, "refused: %s (check username, password file, certificate)" % rc)
    rm = getattr(cprops, "ReceiveMaximum", None)
    return Result(name, True, "connected" + (", broker Receive Maximum %d" % rm if rm else ""))


def probe_udp(host: str, port: int) -> Result:
    name = "UDP %s:%d" % (host, port)
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((host, port))
    except OSError as e:
        return Result(name, False, "cannot bind: %s (is the agent already running, or another packet forwarder "
                      "server?)" % e.strerror)  # fmt: skip
    return Result(name, True, "free to bind")


def probe_data_dir(path: str, quota_mb: int) -> list[Result]:
    out = []
    if not os.path.isdir(path):
        parent = os.path.dirname(os.path.abspath(path))
        ok = os.access(parent, os.W_OK)
        out.append(Result("data directory %s" % path, ok,
                          "does not exist yet; the agent creates it" if ok else "does not exist and %s is not "
                          "writable: create it for the agent's user (mode 0700)" % parent))  # fmt: skip
        return out
    try:
        check_private(Path(path))  # the agent refuses a directory others can read: so does the check
    except RegistryError as e:
        out.append(Result("data directory %s" % path, False, str(e)))
        return out
    except OSError as e:
        out.append(Result("data directory %s" % path, False, "cannot be read: %s" % e.strerror))
        return out
    try:
        with tempfile.NamedTemporaryFile(dir=path) as f:
            f.write(b"x")
            f.flush()
            os.fsync(f.fileno())
        out.append(Result("data directory %s" % path, True, "writable"))
    except OSError as e:
        out.append(Result("data directory %s" % path, False, "not writable: %s" % e.strerror))
        return out
    du = shutil.disk_usage(path)
    need = quota_mb * 1024 * 1024
    out.append(Result("disk space", du.free >= need,
                      "%.0f MiB free for a buffer quota of %d MiB%s" % (du.free / 2**20, quota_mb,
                      "" if du.free >= need else ": lower [buffer] quota_mb or free space")))  # fmt: skip
    return out
