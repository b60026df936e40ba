"""Interactive ``edge gateway init``: asks what an installer on a bucket truck knows.

Each answer is checked at once by the config module's own validation (`config.from_dict` on the
answers so far; TLS and password files by `gateway.forward.settings.from_config`), so a rule lives
in one place. The broker can be tested with `edge gateway check`'s probe before anything is
written. The file is the same commented TOML as the non-interactive path (`config.render`, written
by `gateway.config.write`). The password is read without echo and written to its own
file, mode 0600, next to the config; it is never printed. Not a command module (no GROUP):
`cli.gateway_agent.cmd_init` calls `interactive_init`.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.main import EXIT_OK, EXIT_USAGE

Overrides = dict[str, dict[str, Any]]
PROBE_TIMEOUT_S = 10.0


class _Abort(Exception):
    """The installer ended the input; nothing is written."""


def _default(cls: Any, key: str) -> Any:
    """A key's default, read from the config dataclass (the one place it is defined)."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == key)


def _read(prompt: str) -> str:
    try:
        return input(prompt).strip()
    except EOFError:
        raise _Abort() from None


def _yes(prompt: str, default: bool) -> bool:
    while True:
        answer = _read("%s [%s] " % (prompt, "Y/n" if default else "y/N")).lower()
        if not answer:
            return default
        if answer in ("y", "yes", "n", "no"):
            return answer.startswith("y")
        print("  answer y or n")


def _set(answers: Overrides, section: str, key: str, value: Any) -> None:
    if value == "" or value is None:
        answers.get(section, {}).pop(key, None)
    else:
        answers.setdefault(section, {})[key] = value


def _ask(answers: Overrides, section: str, key: str, question: str, default: Any = "") -> None:
    """Ask until the answer passes the config's validation; empty keeps the default shown."""
    from gateway import config

    while True:
        shown = " [%s]" % default if default != "" else ""
        value = _read("%s%s: " % (question, shown)) or default
        previous = answers.get(section, {}).get(key)
        _set(answers, section, key, value)
        try:
            config.from_dict(answers)
            return
        except config.ConfigError as e:
            print("  %s" % e)
            _set(answers, section, key, previous)


def _ask_file(question: str, check: Callable[[str], str | None], default: str = "") -> str:
    while True:
        shown = " [%s]" % default if default else ""
        value = _read("%s%s: " % (question, shown)) or default
        problem = check(value) if value else None
        if not problem:
            return os.path.abspath(os.path.expanduser(value)) if value else ""
        print("  %s" % problem)


def _existing(path: str) -> str | None:
    if os.path.isfile(os.path.expanduser(path)):
        return None
    return "%s does not exist: give the path of the file (copy it to the gateway first)" % path


def _private(path: str) -> str | None:
    problem = _existing(path)
    if problem:
        return problem
    mode = os.stat(os.path.expanduser(path)).st_mode & 0o777
    return None if not mode & 0o077 else "%s has mode %04o: run `chmod 600 %s`, then answer again" % (path, mode, path)


def _broker(answers: Overrides, args: argparse.Namespace) -> str:
    """The [mqtt] questions; returns the password (kept in memory until the file is written)."""
    _ask(answers, "mqtt", "url", "Broker URL (mqtt://host:1883 or mqtts://host:8883; empty: buffer only)",
         args.mqtt_url or answers.get("mqtt", {}).get("url", ""))  # fmt: skip
    url = answers.get("mqtt", {}).get("url", "")
    for key in ("ca_file", "cert_file", "key_file", "username", "password_file", "tls"):
        _set(answers, "mqtt", key, None)
    if not url:
        return ""
    if url.startswith("mqtts://"):
        _set(answers, "mqtt", "ca_file", _ask_file("CA certificate file (empty: system CAs)", _existing))
        cert = _ask_file("Client certificate file (empty: no client certificate)", _existing)
        if cert:
            _set(answers, "mqtt", "cert_file", cert)
            _set(answers, "mqtt", "key_file", _ask_file("Client key file (mode 0600)", _private))
    _ask(answers, "mqtt", "username", "Username (empty: no authentication)")
    if not answers.get("mqtt", {}).get("username"):
        return ""
    while True:
        password = getpass.getpass("Password (not shown): ")
        if password:
            return password
        print("  the password is empty: type it, or go back and leave the username empty")


def _settings(answers: Overrides, password: str, config_path: Path) -> Any:
    """The forwarder settings the agent would use, with the password not yet on disk."""
    from gateway import config
    from gateway.forward.settings import from_config

    cfg = config.from_dict(answers, config_path.resolve())
    return dataclasses.replace(from_config(cfg), password=password)


def _write_password(path: Path, password: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)


def interactive_init(args: argparse.Namespace) -> int:
    from gateway import config
    from gateway.forward import probe
    from gateway.forward.settings import SettingsError

    path = Path(args.config)
    if not sys.stdin.isatty():
        print("error: interactive init needs a terminal: run it in one, or give --gateway-id (and --udp-bind, "
              "--mqtt-url, --data-dir) to write the config without questions", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    print("Gateway commissioning: answer each question; Enter keeps the value in [brackets], Ctrl-D quits.")
    answers: Overrides = {}
    try:
        _ask(answers, "gateway", "id", "Gateway id (letters, digits, . _ -; an MQTT topic level)",
             args.gateway_id or "")  # fmt: skip
        _ask(answers, "udp", "bind", "Concentrator UDP bind, HOST:PORT the packet forwarder sends to",
             args.udp_bind or _default(config.UdpSection, "bind"))  # fmt: skip
        _ask(answers, "storage", "data_dir", "Data directory (registry, buffer, counters)",
             args.data_dir or _default(config.StorageSection, "data_dir"))  # fmt: skip
        data_dir = config.from_dict(answers, path.resolve()).data_dir
        for r in probe.probe_data_dir(str(data_dir), _default(config.BufferSection, "quota_mb")):
            if not r.ok:
                print("  warning: %s: %s" % (r.name, r.detail))
        while True:
            password = _broker(answers, args)
            if not answers.get("mqtt", {}).get("url"):
                break
            try:
                settings = _settings(answers, password, path)
            except (config.ConfigError, SettingsError) as e:
                print("  %s" % e)
                continue
            if not _yes("Test the broker now?", True):
                break
            result = probe.probe_broker(settings, timeout=PROBE_TIMEOUT_S)
            print("  %s %s: %s" % ("ok" if result.ok else "FAIL", result.name, result.detail))
            if result.ok or not _yes("Change the broker settings?", True):
                break
        if password:
            pw_path = path.resolve().with_name(path.stem + ".mqtt-password")
            _set(answers, "mqtt", "password_file", str(pw_path))
        text = config.checked_render(answers, path.resolve())  # never write a file the agent would refuse
        if not _yes("Write %s?" % path, True):
            print("nothing written")
            return EXIT_OK
    except _Abort:
        print("\ninput ended; nothing written", file=sys.stderr)
        return EXIT_USAGE
    except config.ConfigError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    if password:
        _write_password(pw_path, password)
        print("wrote %s (mode 0600)" % pw_path)
    config.write(path, text)
    print("wrote %s" % path)
    return EXIT_OK
