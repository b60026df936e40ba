"""`edge platform init|db upgrade|query` against a real database (run: see test_ingest_faults)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from central import db, store
from cli.main import main
from tests.platform import pgdb

T0 = 1763856000  # 2025-11-23T00:00:00Z
EUI = "70b3d57ed0000001"


def test_init_upgrade_and_queries(tmp_path, capsys):
    cfg = tmp_path / "platform.toml"
    with pgdb.database(upgrade=False) as dsn:
        assert (
            main(["platform", "init", "--config", str(cfg), "--mqtt-url", "mqtt://127.0.0.1:1883", "--dsn", dsn]) == 0
        )
        text = cfg.read_text()
        assert 'dsn = "%s"' % dsn in text and '# group = "edge-platform"' in text
        assert main(["platform", "init", "--config", str(cfg), "--mqtt-url", "x", "--dsn", dsn]) == 2  # exists
        assert main(["platform", "db", "upgrade", "--config", str(cfg)]) == 0
        assert main(["platform", "db", "upgrade", "--config", str(cfg)]) == 0
        out = capsys.readouterr().out
        assert "applied 0001_initial" in out and "schema up to date" in out
        with db.connect(dsn) as conn:
            store.prepare(conn)
            # every 10 minutes over two days, 6 times missing on the second day
            ts = [T0 + 600 * i for i in range(288) if not 150 <= i < 156]
            store.write(conn, store.Batch(values=[("lamp-1", [(EUI, "pm2_5", float(t), 5.0 + i % 3) for i, t in
                                                             enumerate(ts)])], gateways={"lamp-1"}))  # fmt: skip
        capsys.readouterr()
        assert main(["platform", "query", "latest", "--config", str(cfg)]) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert rows == [
            {
                "dev_eui": EUI,
                "gateway_id": "lamp-1",
                "quantity": "pm2_5",
                "t": "2025-11-24T23:50:00Z",
                "value": "7.0",
                "unit": "ug/m3",
            }
        ]  # fmt: skip (281 % 3 = 2)
        q = ["platform", "query", "series", "--config", str(cfg), "--device", EUI]
        assert main([*q, "--from", "2025-11-23T01:00:00Z", "--to", "2025-11-23T02:00:00Z", "--format", "json"]) == 0
        series = json.loads(capsys.readouterr().out)
        assert [r["t"] for r in series] == ["2025-11-23T01:%02d:00Z" % m for m in range(0, 60, 10)]
        assert (
            main(["platform", "query", "gaps", "--config", str(cfg), "--from", "2025-11-23", "--to", "2025-11-25"]) == 0
        )
        gaps = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert [(g["day"], g["interval_s"], g["expected"], g["arrived"], g["missing"]) for g in gaps] == [
            ("2025-11-23", "600", "144", "144", "0"),
            ("2025-11-24", "600", "144", "138", "6"),
        ]
        assert main([*q, "--from", "yesterday", "--to", "2025-11-25"]) == 2
        assert "error: 'yesterday' is not a time" in capsys.readouterr().err


def test_run_refuses_a_database_without_the_schema(tmp_path, capsys):
    cfg = tmp_path / "platform.toml"
    with pgdb.database(upgrade=False) as dsn:
        main(["platform", "init", "--config", str(cfg), "--mqtt-url", "mqtt://127.0.0.1:9", "--dsn", dsn])
        assert main(["platform", "run", "--config", str(cfg)]) == 1
        assert "run `edge platform db upgrade" in capsys.readouterr().err


@pytest.mark.parametrize("dsn", ["postgresql://postgres@127.0.0.1:9/none"])
def test_upgrade_reports_an_unreachable_database(tmp_path, capsys, dsn):
    cfg = tmp_path / "platform.toml"
    main(["platform", "init", "--config", str(cfg), "--mqtt-url", "mqtt://127.0.0.1:9", "--dsn", dsn])
    assert main(["platform", "db", "upgrade", "--config", str(cfg)]) == 1
    assert capsys.readouterr().err.startswith("error: cannot connect to postgresql://postgres@127.0.0.1:9/none")
