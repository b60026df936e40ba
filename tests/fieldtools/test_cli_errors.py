"""edge flash and edge device logs on bad input: one line naming the fix, exit 1 or 2, no traceback."""

import os

import pytest
import serial

from fieldtools.vboard import VirtualBoard
from tests.fieldtools.boardkit import APP_KEY, device_config, edge

pytestmark = pytest.mark.slow


def one_line(r):
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_wrong_port(tmp_path):
    r = edge("flash", "--port", "/dev/ttyUSB97", "--board", "esp32-devkitc", "--config", str(device_config(tmp_path)))
    assert r.returncode == 1
    assert "no serial port /dev/ttyUSB97" in one_line(r) and "plug the board in" in r.stderr


def test_busy_port(tmp_path):
    with VirtualBoard(tmp_path / "flash") as board:
        holder = serial.Serial(board.port, exclusive=True)
        try:
            r = edge("device", "logs", "--port", board.port, "--out", str(tmp_path / "x.csv"))
        finally:
            holder.close()
    assert r.returncode == 1
    assert "is busy" in one_line(r) and "close the program" in r.stderr


def test_board_without_micropython(tmp_path):
    # a pty nobody answers on: what a blank ESP32 or a Pico in BOOTSEL mode looks like to the host
    master, slave = os.openpty()
    try:
        port = os.ttyname(slave)
        r = edge("flash", "--port", port, "--board", "pico-w", "--config", str(device_config(tmp_path)),
                 "--timeout", "1")  # fmt: skip
    finally:
        os.close(master)
        os.close(slave)
    assert r.returncode == 1
    line = one_line(r)
    assert "no MicroPython answers" in line and "esptool" in line and "uf2" in line.lower()


def test_invalid_config_names_the_problem_and_never_the_key(tmp_path):
    bad_key = "00" * 15 + "zz"
    r = edge("flash", "--port", "/dev/null", "--board", "esp32-devkitc",
             "--config", str(device_config(tmp_path, app_key=bad_key)))  # fmt: skip
    assert r.returncode == 2
    assert "lorawan.app_key" in one_line(r)
    assert bad_key not in r.stdout + r.stderr


def test_config_readable_by_others_is_refused(tmp_path):
    r = edge("flash", "--port", "/dev/null", "--board", "esp32-devkitc",
             "--config", str(device_config(tmp_path, mode=0o644)))  # fmt: skip
    assert r.returncode == 2
    assert "chmod 600" in one_line(r)
    assert APP_KEY not in r.stdout + r.stderr


def test_config_for_another_board(tmp_path):
    cfg = device_config(tmp_path)
    cfg.write_text('board = "pico-w"\n' + cfg.read_text())
    r = edge("flash", "--port", "/dev/null", "--board", "esp32-devkitc", "--config", str(cfg))
    assert r.returncode == 2 and "--board pico-w" in one_line(r)


def test_logs_to_a_missing_directory(tmp_path):
    r = edge("device", "logs", "--port", "/dev/null", "--out", str(tmp_path / "nope" / "log.csv"))
    assert r.returncode == 2 and "create it first" in one_line(r)


def test_config_with_a_toml_date_is_refused_cleanly(tmp_path):
    cfg = device_config(tmp_path)
    cfg.write_text("installed = 2026-11-22\n" + cfg.read_text())
    r = edge("flash", "--port", "/dev/null", "--board", "esp32-devkitc", "--config", str(cfg))
    assert r.returncode == 2 and "quote dates" in one_line(r)


def test_flash_refuses_an_unknown_network_and_a_loosened_ttn_budget(tmp_path):
    path = device_config(tmp_path)
    path.write_text(path.read_text().replace("fair_use_s_per_day = 0", 'network = "ttn"\nfair_use_s_per_day = 60'))
    r = edge("flash", "--port", "/dev/null", "--board", "esp32-devkitc", "--config", str(path))
    assert r.returncode == 2 and "uplink.fair_use_s_per_day must be an integer 1..30" in one_line(r)
    path.write_text(path.read_text().replace('network = "ttn"', 'network = "helium"'))
    r = edge("flash", "--port", "/dev/null", "--board", "esp32-devkitc", "--config", str(path))
    assert r.returncode == 2 and "uplink.network must be one of private, ttn" in one_line(r)
