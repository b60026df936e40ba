"""`edge gateway check`: a readable report and an exit code, against a real broker with TLS and auth."""

import socket

from cli.main import main
from gateway import config
from tests.mqtt_broker import MosquittoBroker, free_port


def write(tmp_path, **mqtt):
    raw = {"gateway": {"id": "gw1"}, "udp": {"bind": "127.0.0.1:%d" % free_port()},
           "storage": {"data_dir": str(tmp_path / "data")}, "mqtt": mqtt}  # fmt: skip
    path = tmp_path / "gw.toml"
    path.write_text(config.render(raw))
    return path


def test_all_checks_pass_with_tls_client_certificate_and_password(tmp_path, capsys):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)
    with MosquittoBroker(tmp_path, tls=True, users={"gw": "s3cret"}) as b:
        t = b.tls
        path = write(tmp_path, url=b.url, ca_file=t.ca_cert, cert_file=t.client_cert, key_file=t.client_key,
                     username="gw", password_file=str(pw))  # fmt: skip
        code = main(["gateway", "check", "--config", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ok   broker 127.0.0.1:%d (MQTT 5, TLS, user gw): connected" % b.port in out
    assert "s3cret" not in out
    assert "all checks passed" in out


def test_failures_are_reported_with_the_fix_and_exit_1(tmp_path, capsys):
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    pw.chmod(0o600)
    with MosquittoBroker(tmp_path, users={"gw": "s3cret"}) as b:
        path = write(tmp_path, url=b.url, username="gw", password_file=str(pw))
        cfg = config.load(path)
        busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        busy.bind(config.parse_host_port(cfg.udp.bind))
        try:
            code = main(["gateway", "check", "--config", str(path), "--timeout", "3"])
        finally:
            busy.close()
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL UDP" in out and "cannot bind" in out
    assert "FAIL broker" in out and "refused" in out
    assert "2 check(s) failed" in out


def test_broker_down_and_open_key_file(tmp_path, capsys):
    key = tmp_path / "client.key"
    key.write_text("not really a key")
    key.chmod(0o644)
    path = write(tmp_path, url="mqtt://127.0.0.1:%d" % free_port())
    assert main(["gateway", "check", "--config", str(path), "--timeout", "2"]) == 1
    assert "FAIL broker" in capsys.readouterr().out
    path = write(tmp_path, url="mqtts://127.0.0.1:8883", cert_file=str(key), key_file=str(key))
    assert main(["gateway", "check", "--config", str(path), "--timeout", "1"]) == 1
    assert "chmod 600" in capsys.readouterr().out


def test_invalid_config_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[gateway]\nid = "gw1"\n[mqtt]\nmax_inflight = 0\n')
    assert main(["gateway", "check", "--config", str(path)]) == 2
    assert "max_inflight" in capsys.readouterr().err
