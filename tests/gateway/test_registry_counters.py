"""Frame counters in the registry: the counter log, its folding, and what must never happen (a
counter going back, an old session's counters landing on a new one)."""

import sqlite3

from gateway import registry as registry_mod
from gateway.registry import Registry

NWK = bytes(range(16))
APP = bytes(range(16, 32))
DEV, ADDR = "70b3d57ed0000d01", "26011d01"


def open_reg(tmp_path):
    return Registry.open(tmp_path / "data")


def provision(tmp_path, *devices, otaa=False):
    """Add devices from another connection, as `edge gateway device add` does."""
    cli = open_reg(tmp_path)
    for eui, addr in devices:
        if otaa:
            cli.add_otaa(eui, "70b3d57ed0000000", APP)
        else:
            cli.add_abp(eui, addr, NWK, APP)
    cli.close()


def log_rows(tmp_path):
    db = sqlite3.connect(tmp_path / "data" / registry_mod.REGISTRY_FILE)
    try:
        return db.execute("SELECT count(*) FROM counter_log").fetchone()[0]
    finally:
        db.close()


def test_logged_counters_survive_a_crash_and_are_folded_at_open(tmp_path):
    provision(tmp_path, (DEV, ADDR))
    reg = open_reg(tmp_path)
    s = reg.session(DEV)
    s.fcnt_up_next, s.last_seq = 41, 7
    reg.save_counters([s])
    assert log_rows(tmp_path) == 1
    assert reg.devices()[0]["fcnt_up_next"] == 41  # listings see the log before it is folded
    reg._db.close()  # a crash: no fold at close
    again = open_reg(tmp_path)
    assert again.session(DEV).fcnt_up_next == 41 and again.session(DEV).last_seq == 7
    assert log_rows(tmp_path) == 0  # folded at open
    again.close()


def test_an_older_snapshot_written_last_does_not_take_a_counter_back(tmp_path):
    provision(tmp_path, (DEV, ADDR))
    reg = open_reg(tmp_path)
    s = reg.session(DEV)
    s.fcnt_up_next = 10
    old = reg.counter_rows([s])
    s.fcnt_up_next = 20
    reg.save_counters([s])
    reg.save_rows(old)  # the commit thread writes a snapshot taken before
    reg.close()
    assert open_reg(tmp_path).session(DEV).fcnt_up_next == 20


def test_a_new_join_is_not_overwritten_by_the_old_session(tmp_path):
    provision(tmp_path, (DEV, None), otaa=True)
    reg = open_reg(tmp_path)
    first = reg.activate(DEV, bytes.fromhex(ADDR), NWK, APP)
    first.fcnt_up_next = 500
    stale = reg.counter_rows([first])  # taken before the rejoin, written after it
    second = reg.activate(DEV, bytes.fromhex("26011d02"), NWK, APP)
    reg.save_rows(stale)
    reg.close()
    s = open_reg(tmp_path).session(DEV)
    assert s.dev_addr.hex() == "26011d02" and s.fcnt_up_next == 0
    assert second.fcnt_up_next == 0


def test_the_log_is_folded_every_fold_rows_commits(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_mod, "FOLD_ROWS", 5)
    provision(tmp_path, (DEV, ADDR))
    reg = open_reg(tmp_path)
    s = reg.session(DEV)
    for n in range(1, 5):
        s.fcnt_up_next = n
        reg.save_counters([s])
    assert log_rows(tmp_path) == 4
    s.fcnt_up_next = 5
    reg.save_counters([s])
    assert log_rows(tmp_path) == 0
    row = reg._db.execute("SELECT fcnt_up_next FROM devices WHERE dev_eui = ?", (DEV,)).fetchone()
    assert row[0] == 5
    reg.close()


def test_a_device_provisioned_again_with_a_new_address_starts_from_zero(tmp_path):
    provision(tmp_path, (DEV, ADDR))
    reg = open_reg(tmp_path)
    s = reg.session(DEV)
    s.fcnt_up_next = 99
    stale = reg.counter_rows([s])
    cli = open_reg(tmp_path)
    assert cli.remove(DEV)
    cli.add_abp(DEV, "26011d09", NWK, APP)  # reprovisioned: the node starts again from 0
    cli.close()
    reg.save_rows(stale)  # a snapshot of the removed device, logged after the removal
    reg.close()
    s = open_reg(tmp_path).session(DEV)
    assert s.dev_addr.hex() == "26011d09" and s.fcnt_up_next == 0


def test_reserve_all_reserves_fcnt_down_in_one_write(tmp_path):
    provision(tmp_path, *[("70b3d57ed0000e0%d" % i, "26011e0%d" % i) for i in range(3)])
    reg = open_reg(tmp_path)
    assert reg.reserve_all() == 3 and log_rows(tmp_path) == 1
    assert all(s.fcnt_down_saved == registry_mod.FCNT_DOWN_RESERVE for s in reg._by_eui.values())
    assert reg.reserve_all() == 0
    reg.close()


def test_the_buffers_newest_uplinks_raise_lagging_counters(tmp_path):
    provision(tmp_path, (DEV, ADDR), ("70b3d57ed0000d02", "26011d02"))
    reg = open_reg(tmp_path)
    reg.session(DEV).fcnt_up_next = 5
    # the second device's newest uplink is from a past session (another DevAddr): it does not count
    moved = reg.raise_up_counters([(DEV, ADDR, 9), ("70b3d57ed0000d02", "26019999", 40)])
    assert moved == 1 and reg.session(DEV).fcnt_up_next == 10
    assert reg.session("70b3d57ed0000d02").fcnt_up_next == 0
    assert reg.raise_up_counters([(DEV, ADDR, 3)]) == 0  # never back
    reg._db.close()
    assert open_reg(tmp_path).session(DEV).fcnt_up_next == 10  # written
