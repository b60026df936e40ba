"""``edge gateway init|run|status|device`` and ``edge lorawan decode`` through the installed command."""

import base64
import json
import signal
import socket
import subprocess
import time
import tomllib

from edge import downlink
from gateway import config, lorawan
from tests.gateway.harness import APP, NWK, uplink
from tests.gateway.pf import Forwarder, rxpk

DEV = "0004a30b001c0530"


def edge(*args, stdin=None, timeout=60):
    return subprocess.run(["edge", *args], input=stdin, capture_output=True, text=True, timeout=timeout)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def init(tmp_path, port=1700, mqtt=()):
    """A config; without mqtt the agent only buffers (never the broker that may run on this machine)."""
    cfg = tmp_path / "gw.toml"
    r = edge("gateway", "init", "--config", str(cfg), "--gateway-id", "lamp-42", "--udp-bind", "127.0.0.1:%d" % port,
             "--data-dir", str(tmp_path / "data"), *mqtt)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return cfg


def test_init_writes_a_commented_valid_config_and_refuses_to_overwrite(tmp_path):
    cfg = init(tmp_path, mqtt=("--mqtt-url", "mqtt://127.0.0.1:1883"))  # written, never run
    text = cfg.read_text()
    assert text.startswith("# edge gateway agent configuration")
    raw = tomllib.loads(text)
    assert raw["gateway"]["id"] == "lamp-42" and raw["udp"]["bind"] == "127.0.0.1:1700"
    assert config.load(cfg).mqtt.url == "mqtt://127.0.0.1:1883"
    r = edge("gateway", "init", "--config", str(cfg), "--gateway-id", "x")
    assert r.returncode == 2 and "--force" in r.stderr
    r = edge("gateway", "init", "--config", str(tmp_path / "b.toml"), "--gateway-id", "x", "--udp-bind", "nowhere")
    assert r.returncode == 2 and "[udp] bind" in r.stderr and not (tmp_path / "b.toml").exists()


def test_device_add_list_remove_never_shows_keys(tmp_path):
    cfg = str(init(tmp_path))
    r = edge("gateway", "device", "add", "--config", cfg, "--dev-eui", DEV, "--abp", "--dev-addr", "26011BDA",
             "--nwkskey", NWK.hex(), "--appskey", APP.hex())  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = edge("gateway", "device", "add", "--config", cfg, "--dev-eui", "2cf7f12032304b4f", "--otaa",
             "--join-eui", "8000000000000006", "--app-key", "00" * 16)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = edge("gateway", "device", "list", "--config", cfg, "--json")
    devices = json.loads(r.stdout)
    assert [(d["dev_eui"], d["activation"], d["dev_addr"]) for d in devices] == [
        ("0004a30b001c0530", "abp", "26011bda"), ("2cf7f12032304b4f", "otaa", None)]  # fmt: skip
    plain = edge("gateway", "device", "list", "--config", cfg).stdout
    assert NWK.hex() not in r.stdout + plain and APP.hex() not in r.stdout + plain
    # duplicates and bad keys are refused with exit 2
    r = edge("gateway", "device", "add", "--config", cfg, "--dev-eui", DEV, "--otaa", "--join-eui", "00" * 8,
             "--app-key", "00" * 16)  # fmt: skip
    assert r.returncode == 2 and "already registered" in r.stderr
    r = edge("gateway", "device", "add", "--config", cfg, "--dev-eui", "11" * 8, "--otaa", "--join-eui", "00" * 8,
             "--app-key", "zz")  # fmt: skip
    assert r.returncode == 2 and "--app-key" in r.stderr
    r = edge("gateway", "device", "add", "--config", cfg, "--dev-eui", "11" * 8, "--abp")
    assert r.returncode == 2 and "--dev-addr" in r.stderr
    r = edge("gateway", "device", "command", "--config", cfg, "--dev-eui", DEV, "set_interval", "5")
    assert r.returncode == 2 and "interval below" in r.stderr
    r = edge("gateway", "device", "command", "--config", cfg, "--dev-eui", "11" * 8, "reboot")
    assert r.returncode == 2 and "not registered" in r.stderr
    assert edge("gateway", "device", "remove", "--config", cfg, "--dev-eui", DEV).returncode == 0
    assert edge("gateway", "device", "remove", "--config", cfg, "--dev-eui", DEV).returncode == 1


def test_run_receives_stops_cleanly_on_sigterm_and_status_reports(tmp_path):
    port = free_port()
    cfg = str(init(tmp_path, port))
    assert edge("gateway", "device", "add", "--config", cfg, "--dev-eui", DEV, "--abp", "--dev-addr", "26011bda",
                "--nwkskey", NWK.hex(), "--appskey", APP.hex()).returncode == 0  # fmt: skip
    agent = subprocess.Popen(["edge", "gateway", "run", "--config", cfg], stderr=subprocess.PIPE, text=True)
    f = Forwarder(("127.0.0.1", port))
    try:
        for _ in range(100):
            try:
                f.pull()
                break
            except TimeoutError:
                time.sleep(0.1)
        r = edge("gateway", "device", "command", "--config", cfg, "--dev-eui", DEV, "set_interval", "300")
        assert r.returncode == 0, r.stderr
        time.sleep(1.5)  # the agent takes operator commands at its once-a-second housekeeping
        f.push([rxpk(uplink("26011bda", 0, {"seq": 1, "t": 1763800000, "pm2_5": 5.0}), tmst=2_000_000)])
        _, txpk = f.pull_resp()  # the queued command goes out in RX1
        assert txpk["tmst"] == 3_000_000
        frame = lorawan.parse_phy(base64.b64decode(txpk["data"]))
        assert frame.fport == 2 and downlink.decode(frame.decrypt(NWK, APP, 0)) == [("set_interval", 300)]
        f.push([rxpk(b"\x40\x00")])
        f.send(b"garbage")
        for _ in range(100):
            status = json.loads(edge("gateway", "status", "--config", cfg, "--json").stdout)
            if status["counters"]["received_uplinks"] == 1 and status["counters"]["malformed_datagrams"] == 1:
                break
            time.sleep(0.1)
        assert status["running"] is True
        c = status["counters"]
        assert (c["received_uplinks"], c["stored_readings"], c["bad_phy"], c["malformed_datagrams"]) == (1, 1, 1, 1)
        for name in ("backlog_readings", "forwarded_readings", "evicted_readings", "bad_mic", "unknown_device",
                     "replays"):  # fmt: skip
            assert name in c
    finally:
        f.close()
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=20)
    assert agent.returncode == 0, err
    assert "stopped" in err and NWK.hex() not in err
    status = json.loads(edge("gateway", "status", "--config", cfg, "--json").stdout)
    assert status["running"] is False and status["counters"]["received_uplinks"] == 1
    text = edge("gateway", "status", "--config", cfg).stdout
    assert "not running" in text and "received_uplinks" in text


def test_run_refuses_a_bad_config_with_exit_2(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[gateway]\nid = "g"\n[udp]\nbind = "127.0.0.1:99999"\n')
    r = edge("gateway", "run", "--config", str(p))
    assert r.returncode == 2 and "[udp] bind" in r.stderr


def test_lorawan_decode_prints_the_frame_as_json():
    r = edge("lorawan", "decode", "80040302010300000673070ae264d4f7e117d2c0", "--nwkskey",
             "0102030405060708090a0b0c0d0e0f10", "--appskey", "100f0e0d0c0b0a090807060504030201")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["mtype"], out["dev_addr"], out["fcnt"], out["fport"], out["payload"], out["mic_ok"]) == (
        "ConfirmedDataUp", "01020304", 0, 10, "01020304", True)  # fmt: skip
    r = edge("lorawan", "decode", "40F17DBE4900020001954378762B11FF0D", "--nwkskey",
             "00" * 16, "--appskey", "ec925802ae430ca77fd3dd73cb2cc588")  # fmt: skip
    assert r.returncode == 1 and json.loads(r.stdout)["mic_ok"] is False
    r = edge("lorawan", "decode", "20e3de108795f776b8037610ef7869b5b3", "--app-key", "00" * 16)
    out = json.loads(r.stdout)
    assert out["mtype"] == "JoinAccept" and out["mic_ok"] is True and out["dev_addr"] == "00000000"
    r = edge("lorawan", "decode", "00DC0000D07ED5B3701E6FEDF57CEEAF0085CC587FE913")
    assert json.loads(r.stdout)["dev_eui"] == "00afee7cf5ed6f1e"
    r = edge("lorawan", "decode", "4001")
    assert r.returncode == 2 and "FrameTooShort" in r.stderr
    assert edge("lorawan", "decode", "xyz").returncode == 2


def test_run_reports_a_busy_udp_port_and_unsafe_permissions_with_exit_1(tmp_path):
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    cfg = init(tmp_path, busy.getsockname()[1])
    r = edge("gateway", "run", "--config", str(cfg))
    busy.close()
    assert r.returncode == 1 and "cannot start" in r.stderr and "Address already in use" in r.stderr
    (tmp_path / "data").chmod(0o755)
    r = edge("gateway", "run", "--config", str(cfg))
    assert r.returncode == 1 and "chmod 700" in r.stderr


def test_run_with_json_logs_writes_one_json_object_a_line(tmp_path):
    port = free_port()
    cfg = str(init(tmp_path, port))
    agent = subprocess.Popen(
        ["edge", "gateway", "run", "--config", cfg, "--log-format", "json"], stderr=subprocess.PIPE, text=True
    )
    f = Forwarder(("127.0.0.1", port))
    try:
        for _ in range(100):
            try:
                f.pull()
                break
            except TimeoutError:
                time.sleep(0.1)
        f.send(b"garbage")  # a malformed datagram: logged as a warning
        time.sleep(0.5)
    finally:
        f.close()
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=20)
    assert agent.returncode == 0, err
    docs = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert docs and all({"ts", "level", "logger", "msg"} <= d.keys() for d in docs)
    assert any(d["level"] == "WARNING" for d in docs) and any("stopped" in d["msg"] for d in docs)
