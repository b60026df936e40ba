"""`edge gateway device meta|note|show|import`: error paths, warnings and the recorded history."""

import json
import time

from tests.inventory.helpers import APP_KEY, DEV1, DEV2, edge, gateway


def one_error_line(r, *words):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def show(cfg, eui):
    r = edge("gateway", "device", "show", eui, "--config", cfg, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_bad_input_is_one_line_exit_2_and_stores_nothing(tmp_path):
    cfg = gateway(tmp_path)
    meta = ("gateway", "device", "meta", DEV1, "--config", cfg)
    one_error_line(edge(*meta, "--lat", "91", "--lon", "11"), "latitude", "between -90.0 and 90.0")
    one_error_line(edge(*meta, "--lon", "-180.5"), "longitude", "-180.0 and 180.0")
    one_error_line(edge(*meta, "--lat", "north"), "latitude", "not a number")
    one_error_line(edge(*meta, "--height", "-1"), "height_m", "between")
    one_error_line(edge(*meta, "--installed", "14/03/2026"), "installed", "YYYY-MM-DD")
    one_error_line(edge(*meta, "--installed", "2999-01-01"), "installed", "future")
    one_error_line(edge(*meta, "--support", "tree"), "support", "lamp-post, wall, pole")
    one_error_line(edge(*meta, "--photo", str(tmp_path / "none.jpg")), "none.jpg", "does not exist")
    one_error_line(edge(*meta), "nothing to set")
    one_error_line(edge("gateway", "device", "meta", DEV2, "--config", cfg, "--lat", "1"),
                   DEV2, "not registered", "edge gateway device add")  # fmt: skip
    one_error_line(edge("gateway", "device", "meta", "xyz", "--config", cfg, "--lat", "1"), "DevEUI", "16 hex digits")
    one_error_line(edge("gateway", "device", "note", DEV2, "fixed", "--config", cfg), DEV2, "not registered")
    one_error_line(edge("gateway", "device", "note", DEV1, "  ", "--config", cfg), "note is empty")
    one_error_line(edge("gateway", "device", "show", DEV2, "--config", cfg), DEV2, "not registered")
    one_error_line(edge("gateway", "device", "meta", DEV1, "--config", str(tmp_path / "no.toml"), "--lat", "1"),
                   "no.toml", "edge gateway init")  # fmt: skip
    got = show(cfg, DEV1)
    assert got["meta"] is None and got["history"] == []  # nothing half-stored


def test_low_mounting_warns_but_stores_and_history_has_time_and_author(tmp_path):
    cfg = gateway(tmp_path)
    photo = tmp_path / "pole.jpg"
    photo.write_bytes(b"\xff\xd8jpeg")
    before = time.time()
    r = edge("gateway", "device", "meta", DEV1, "--config", cfg, "--lat", "48.13743", "--lon", "11.57549",
             "--height", "3.2", "--installed", "2026-11-20", "--support", "Lamp post", "--photo", str(photo),
             "--author", "ann")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "warning: mounting height 3.20 m is below 3.5 m" in r.stderr
    r = edge("gateway", "device", "meta", DEV1, "--config", cfg, "--height", "4.5", "--author", "bob")
    assert r.returncode == 0 and "warning" not in r.stderr
    assert "height_m: 3.2 -> 4.5" in r.stdout
    r = edge("gateway", "device", "note", DEV1, "antenna replaced after storm", "--config", cfg, "--author", "carl")
    assert r.returncode == 0, r.stderr
    after = time.time()
    got = show(cfg, DEV1)
    assert got["meta"]["latitude"] == 48.13743 and got["meta"]["longitude"] == 11.57549
    assert got["meta"]["height_m"] == 4.5 and got["meta"]["support"] == "lamp-post"
    assert got["meta"]["photos"] == [str(photo)] and got["meta"]["installed"] == "2026-11-20"
    hist = [(h["author"], h["field"], h["old"], h["new"]) for h in got["history"]]
    assert hist[:6] == [("ann", "latitude", None, 48.13743), ("ann", "longitude", None, 11.57549),
                        ("ann", "height_m", None, 3.2), ("ann", "installed", None, "2026-11-20"),
                        ("ann", "support", None, "lamp-post"), ("ann", "photos", [], [str(photo)])]  # fmt: skip
    assert hist[6:] == [("bob", "height_m", 3.2, 4.5), ("carl", "note", None, "antenna replaced after storm")]
    assert all(before - 1 <= h["at"] <= after + 1 for h in got["history"])
    assert got["history"][-1]["when"].endswith("Z")
    text = edge("gateway", "device", "show", DEV1, "--config", cfg).stdout
    assert "carl" in text and "antenna replaced after storm" in text and "height_m: 3.2 -> 4.5" in text


def test_history_table_refuses_rewrites(tmp_path):
    import sqlite3

    cfg = gateway(tmp_path)
    assert edge("gateway", "device", "note", DEV1, "first visit", "--config", cfg, "--author", "ann").returncode == 0
    db = sqlite3.connect(tmp_path / "data" / "inventory.sqlite")
    for sql in ("UPDATE history SET author = 'mallory'", "DELETE FROM history"):
        try:
            db.execute(sql)
            raise AssertionError("history accepted: " + sql)
        except sqlite3.IntegrityError as e:
            assert "append-only" in str(e)
    assert db.execute("SELECT author FROM history").fetchall() == [("ann",)]


def csv_file(tmp_path, *rows):
    path = tmp_path / "devices.csv"
    header = "dev_eui,activation,join_eui,app_key,latitude,longitude,height_m,installed,support,photos"
    path.write_text("\n".join((header, *rows)) + "\n")
    return str(path)


def test_import_checks_every_row_first_and_names_the_line(tmp_path):
    cfg = gateway(tmp_path, register=())
    (tmp_path / "a.jpg").write_bytes(b"x")
    good1 = "%s,otaa,00000000000000aa,%s,48.1,11.5,5,2026-11-20,lamp post,a.jpg" % (DEV1, APP_KEY)
    good2 = "%s,otaa,00000000000000aa,%s,48.2,11.6,3.0,2026-11-21,wall," % (DEV2, APP_KEY)
    bad_lat = "70b3d57ed0000003,otaa,00000000000000aa,%s,123,11.6,5,2026-11-21,wall," % APP_KEY
    one_error_line(edge("gateway", "device", "import", csv_file(tmp_path, good1, good2, bad_lat), "--config", cfg),
                   "line 4:", "latitude")  # fmt: skip
    bad_key = "70b3d57ed0000003,otaa,00000000000000aa,%s,48.3,11.6,5,2026-11-21,wall," % ("ab" * 15)
    r = edge("gateway", "device", "import", csv_file(tmp_path, good1, bad_key), "--config", cfg)
    one_error_line(r, "line 3:", "app_key must be 32 hex digits")
    assert "ab" * 15 not in r.stderr  # a key is never echoed
    one_error_line(edge("gateway", "device", "import", csv_file(tmp_path, good1, good1), "--config", cfg),
                   "line 3:", "already on line 2")  # fmt: skip
    one_error_line(edge("gateway", "device", "import", csv_file(tmp_path, good1.replace("a.jpg", "b.jpg")),
                        "--config", cfg), "line 2:", "b.jpg")  # fmt: skip
    listed = json.loads(edge("gateway", "device", "list", "--config", cfg, "--json").stdout)
    assert listed == []  # nothing imported from a file with a bad row
    r = edge("gateway", "device", "import", csv_file(tmp_path, good1, good2), "--config", cfg, "--author", "dora")
    assert r.returncode == 0, r.stderr
    assert "line 3: mounting height 3.00 m is below 3.5 m" in r.stderr
    listed = json.loads(edge("gateway", "device", "list", "--config", cfg, "--json").stdout)
    assert [d["dev_eui"] for d in listed] == [DEV1, DEV2]
    assert APP_KEY not in r.stdout + r.stderr
    got = show(cfg, DEV1)
    assert got["meta"]["photos"] == [str(tmp_path / "a.jpg")] and got["meta"]["support"] == "lamp-post"
    assert {h["author"] for h in got["history"]} == {"dora"}
    # a second import of the same keys is refused; metadata-only rows update registered devices
    one_error_line(edge("gateway", "device", "import", csv_file(tmp_path, good1), "--config", cfg),
                   "line 2:", "already registered")  # fmt: skip
    r = edge("gateway", "device", "import", csv_file(tmp_path, "%s,,,,48.1,11.5,6,2026-11-20,pole," % DEV1),
             "--config", cfg, "--author", "eve")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert show(cfg, DEV1)["meta"]["height_m"] == 6.0 and show(cfg, DEV1)["history"][-1]["author"] == "eve"
