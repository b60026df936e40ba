"""Interactive `edge gateway init` on a real pseudo-terminal, against a real mosquitto."""

import os
import shutil
import stat
import tomllib
from pathlib import Path

from gateway import config
from gateway.forward.settings import from_config
from tests.inventory.terminal import Terminal
from tests.mqtt_broker import MosquittoBroker

EDGE = shutil.which("edge") or "edge"


def test_init_asks_validates_each_answer_tests_the_broker_and_writes_the_config(tmp_path):
    cfg_path = tmp_path / "gw.toml"
    with MosquittoBroker(tmp_path, users={"gw": "s3cret-pw"}) as broker:
        t = Terminal([EDGE, "gateway", "init", "--config", str(cfg_path)])
        t.expect(r"Gateway id .*: ")
        t.send("lamp post 7")  # a space: not a topic level
        t.expect(r"\[gateway\] id = 'lamp post 7' must be 1-64 letters")
        t.expect(r"Gateway id .*: ")
        t.send("lamp-7")
        t.expect(r"Concentrator UDP bind.*\[127\.0\.0\.1:1700\]: ")
        t.send("localhost:1700")  # the config wants an IP address
        t.expect(r"\[udp\] bind = 'localhost:1700' host must be an IP address")
        t.expect(r"Concentrator UDP bind.*: ")
        t.send("")  # keep the default
        t.expect(r"Data directory .*: ")
        t.send(str(tmp_path / "data"))
        t.expect(r"Broker URL .*: ")
        t.send("http://%s:%d" % (broker.host, broker.port))
        t.expect(r"\[mqtt\] url = 'http://.*' must look like")
        t.expect(r"Broker URL .*: ")
        t.send(broker.url)
        t.expect(r"Username .*: ")
        t.send("gw")
        t.expect(r"Password \(not shown\): ")
        t.send("wrong-pw")
        t.expect(r"Test the broker now\? \[Y/n\] ")
        t.send("")
        t.expect(r"FAIL broker 127\.0\.0\.1:%d .*refused" % broker.port)
        t.expect(r"Change the broker settings\? \[Y/n\] ")
        t.send("y")
        t.expect(r"Broker URL .*\[%s\]: " % broker.url)
        t.send("")
        t.expect(r"Username .*: ")
        t.send("gw")
        t.expect(r"Password \(not shown\): ")
        t.send("s3cret-pw")
        t.expect(r"Test the broker now\? \[Y/n\] ")
        t.send("y")
        t.expect(r"ok broker 127\.0\.0\.1:%d \(MQTT 5, user gw\): connected" % broker.port)
        t.expect(r"Write .*gw\.toml\? \[Y/n\] ")
        t.send("y")
        assert t.wait() == 0, t.transcript
    assert "s3cret-pw" not in t.transcript and "wrong-pw" not in t.transcript  # no echo, never printed
    text = cfg_path.read_text()
    assert text.startswith("# edge gateway agent configuration") and "s3cret-pw" not in text
    raw = tomllib.loads(text)
    assert raw["gateway"] == {"id": "lamp-7"} and raw["mqtt"]["username"] == "gw"
    cfg = config.load(cfg_path)
    assert cfg.udp.bind == "127.0.0.1:1700" and cfg.data_dir == tmp_path / "data"
    assert cfg.mqtt.url == broker.url and cfg.mqtt.username == "gw"
    pw_file = cfg.mqtt.password_file
    assert stat.S_IMODE(os.stat(pw_file).st_mode) == 0o600
    assert from_config(cfg).password == "s3cret-pw"  # what the agent will use
    assert stat.S_IMODE(cfg_path.stat().st_mode) == 0o640


def test_init_with_ctrl_d_writes_nothing_and_without_a_terminal_says_how(tmp_path):
    cfg_path = tmp_path / "gw.toml"
    t = Terminal([EDGE, "gateway", "init", "--config", str(cfg_path), "--gateway-id", "lamp-8", "--interactive"])
    t.expect(r"Gateway id .*\[lamp-8\]: ")
    t.send("")
    t.expect(r"Concentrator UDP bind")
    os.write(t.fd, b"\x04")  # Ctrl-D
    t.expect("input ended; nothing written")
    assert t.wait() == 2 and not cfg_path.exists()
    import subprocess

    r = subprocess.run([EDGE, "gateway", "init", "--config", str(cfg_path), "--interactive"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 2 and "needs a terminal" in r.stderr and "--gateway-id" in r.stderr
    assert "Traceback" not in r.stderr and not cfg_path.exists()
    r = subprocess.run([EDGE, "gateway", "init", "--config", str(cfg_path)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 2 and "--gateway-id is required" in r.stderr


def test_init_over_tls_checks_the_files_and_the_cli_publishes_with_them(tmp_path):
    import json

    from tests.inventory.helpers import APP_KEY, DEV1, edge
    from tests.mqtt_broker import Subscriber

    cfg_path = tmp_path / "gw.toml"
    with MosquittoBroker(tmp_path, tls=True) as broker:
        tls = broker.tls
        assert tls is not None
        loose_key = tmp_path / "loose.key"
        loose_key.write_bytes(Path(tls.client_key).read_bytes())
        loose_key.chmod(0o644)
        t = Terminal([EDGE, "gateway", "init", "--config", str(cfg_path), "--gateway-id", "lamp-9",
                      "--data-dir", str(tmp_path / "data"), "--mqtt-url", broker.url, "--interactive"])  # fmt: skip
        for question in ("Gateway id", "Concentrator UDP bind", "Data directory", "Broker URL"):
            t.expect(question + r".*\]: ")
            t.send("")  # the flags given are the defaults
        t.expect(r"CA certificate file .*: ")
        t.send(str(tmp_path / "no-ca.pem"))
        t.expect(r"no-ca\.pem does not exist")
        t.expect(r"CA certificate file .*: ")
        t.send(tls.ca_cert)
        t.expect(r"Client certificate file .*: ")
        t.send(tls.client_cert)
        t.expect(r"Client key file .*: ")
        t.send(str(loose_key))
        t.expect(r"loose\.key has mode 0644: run `chmod 600 ")
        t.expect(r"Client key file .*: ")
        t.send(tls.client_key)
        t.expect(r"Username .*: ")
        t.send("")
        t.expect(r"Test the broker now\? \[Y/n\] ")
        t.send("y")
        t.expect(r"ok broker 127\.0\.0\.1:%d \(MQTT 5, TLS\): connected" % broker.port)
        t.expect(r"Write .*\? \[Y/n\] ")
        t.send("y")
        assert t.wait() == 0, t.transcript
        cfg = config.load(cfg_path)
        assert (cfg.mqtt.ca_file, cfg.mqtt.cert_file, cfg.mqtt.key_file) == (tls.ca_cert, tls.client_cert,
                                                                            tls.client_key)  # fmt: skip
        assert cfg.mqtt.password_file == "" and not list(tmp_path.glob("*.mqtt-password"))
        r = edge("gateway", "device", "add", "--config", str(cfg_path), "--dev-eui", DEV1, "--otaa",
                 "--join-eui", "00000000000000aa", "--app-key", APP_KEY)  # fmt: skip
        assert r.returncode == 0, r.stderr
        r = edge("gateway", "device", "meta", DEV1, "--config", str(cfg_path), "--support", "wall", "--height", "5")
        assert r.returncode == 0 and "published edge/lamp-9/devices/" + DEV1 in r.stdout, r.stderr
        sub = Subscriber(broker, "edge/lamp-9/devices/" + DEV1)
        try:
            assert sub.wait_for(lambda msgs: msgs)
            assert json.loads(sub.snapshot()[0][1])["support"] == "wall" and sub.snapshot()[0][2].retain
        finally:
            sub.close()
