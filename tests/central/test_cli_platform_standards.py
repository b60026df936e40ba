"""edge platform serve|export|csource from the command line."""

import json
import socket
import subprocess
import sys
import urllib.request

import pytest

from cli.main import main
from tests.central import pg
from tests.central.test_ngsi_api import DEVICES, SERIES


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    with pg.database() as dsn:
        pg.insert(dsn, DEVICES, SERIES)
        path = tmp_path_factory.mktemp("cfg") / "platform.toml"
        path.write_text('[database]\ndsn = "%s"\n\n[mqtt]\nurl = "mqtt://127.0.0.1:1"\n\n[ngsi]\ntoken = "tok"\n' % dsn)
        yield path


def test_csource_prints_the_registration(config, capsys):
    assert main(["platform", "csource", "--config", str(config), "--endpoint", "http://192.0.2.7:1026"]) == 0
    reg = json.loads(capsys.readouterr().out)
    assert reg["type"] == "ContextSourceRegistration" and reg["endpoint"] == "http://192.0.2.7:1026"
    assert reg["contextSourceInfo"][0]["value"] == "Bearer tok"


def test_export_writes_the_package(config, tmp_path, capsys):
    day = "2026-05-28"
    assert main(["platform", "export", "--config", str(config), "--from", day, "--to", "2026-05-30",
                 "--format", "csv", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert str(tmp_path / "datapackage.json") in printed
    assert len((tmp_path / "observations.csv").read_text().splitlines()) > 1


@pytest.mark.parametrize("args, words", [
    (["--from", "2026-05-30", "--to", "2026-05-28"], "--to must be after --from"),
    (["--from", "yesterday", "--to", "2026-05-28"], "not a date"),
])
def test_export_bad_input(config, tmp_path, capsys, args, words):
    assert main(["platform", "export", "--config", str(config), *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1


def test_bad_config_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    base = '[database]\ndsn = "postgresql://x"\n[mqtt]\nurl = "mqtt://127.0.0.1:1"\n'
    cfg.write_text(base + '[ngsi]\nbind = "0.0.0.0:1026"\n')
    assert main(["platform", "csource", "--config", str(cfg)]) == 2
    assert "not a loopback address" in capsys.readouterr().err
    cfg.write_text(base + '[ngsi]\nbicycle_counters = ["XYZ"]\n')
    assert main(["platform", "serve", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: [ngsi] bicycle_counters") and err.count("\n") == 1
    cfg.write_text(base + '[ngsi]\ntimezone = "Mars/Olympus"\n')
    assert main(["platform", "export", "--config", str(cfg), "--from", "2026-01-01", "--to", "2026-01-02",
                 "--out", str(tmp_path)]) == 2
    assert "time zone" in capsys.readouterr().err


def test_serve_answers_until_stopped(config):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "platform", "serve", "--config", str(config),
                             "--bind", "127.0.0.1:%d" % port], stdout=subprocess.PIPE, text=True)
    try:
        assert "NGSI-LD API on http://127.0.0.1:%d" % port in proc.stdout.readline()
        req = urllib.request.Request("http://127.0.0.1:%d/ngsi-ld/v1/types" % port,
                                     headers={"Authorization": "Bearer tok"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert "AirQualityObserved" in json.loads(r.read())["typeList"]
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10) as r:
            assert b"edge sensors" in r.read()  # the page itself needs no token, its data does
    finally:
        proc.terminate()
        proc.wait(timeout=10)
