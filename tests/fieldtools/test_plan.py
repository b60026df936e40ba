"""edge plan against numbers worked by hand from the formulas (Semtech AN1200.13, ETSI duty cycle)."""

import pytest

from cli.main import main
from fieldtools.plan import Deployment, airtime_ms, mqtt_publish_bytes, plan


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_airtime_command_prints_the_design_vector(capsys):
    # 13 bytes, SF9/125 kHz: n = 8 + ceil((104-36+28+16)/36)*5 = 28 symbols; (28+12.25)*4.096 ms
    code, out, _ = run(capsys, "plan", "airtime", "--sf", "9", "--bw", "125", "--phy-bytes", "13")
    assert code == 0
    assert out.strip() == "164.864 ms"


def test_airtime_with_low_data_rate_optimisation():
    # 25 bytes, SF12/125 kHz, DE=1: ceil((200-48+28+16)/40) = 5 -> n = 33; (33+12.25)*32.768 ms
    assert airtime_ms(25, 12, 125) == pytest.approx(1482.752, abs=1e-9)
    # 25 bytes, SF7/125 kHz: ceil((200-28+28+16)/28) = 8 -> n = 48; (48+12.25)*1.024 ms
    assert airtime_ms(25, 7, 125) == pytest.approx(61.696, abs=1e-9)


def test_bad_radio_input_is_a_usage_error(capsys):
    code, out, err = run(capsys, "plan", "airtime", "--sf", "13", "--phy-bytes", "13")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_sf12_five_minute_uplinks_break_fair_use_but_not_the_duty_cycle():
    p = plan(Deployment(nodes=150, sensors=("sds011", "sht3x"), interval_s=300, dr=0))
    r = p["radio"]
    # one reading: header 1, seq 2, age 1, bitmap 1, pm2_5 2, pm10 2, temperature 2, humidity 1 = 12 bytes
    assert r["frame_bytes"] == [12]
    assert r["phy_bytes"] == [25]
    assert r["uplinks_per_day"] == 288
    assert r["airtime_s_per_day"] == pytest.approx(288 * 1.482752)
    assert r["fair_use_margin"] == pytest.approx(30 / 427.032576)
    # fine on the city's own gateway (duty cycle only), over budget on TTN
    assert r["networks"] == {"private": True, "ttn": False}
    band = {b["subband"]: b for b in r["subbands"]}
    # three of the eight channels lie in 868.0-868.6 MHz (1 %): 427.03 s/day / 24 * 3/8 = 6.672 s/h of 36
    assert band[2]["channels"] == 3
    assert band[2]["airtime_s_per_h"] == pytest.approx(6.672384, rel=1e-6)
    assert band[2]["margin"] == pytest.approx(36 / 6.672384, rel=1e-6)
    # after a 1.483 s frame a 1 % sub-band stays closed 99 times as long
    assert r["off_time_s"] == pytest.approx(1.482752 * 99)


def test_spreading_factor_selects_the_data_rate(capsys):
    code, out, _ = run(capsys, "plan", "deployment", "--sf", "12", "--nodes", "1")
    assert code == 0 and "EU868 DR0 = SF12/125 kHz" in out
    code, _, err = run(capsys, "plan", "deployment", "--sf", "6")
    assert code == 2 and "SF7..SF12" in err


def test_fair_use_overrun_names_the_interval_that_fits(capsys):
    # SF12, one 25-byte PHY frame: 1.482752 s an uplink; 30 s/day allows one every 86400*1.482752/30 = 4270 s
    code, out, _ = run(capsys, "plan", "deployment", "--sf", "12", "--sensors", "sds011,sht3x", "--interval", "300")
    assert code == 0 and "OVER the budget" in out
    assert 'uplink.network = "private" (the city\'s gateway, duty cycle only): fits' in out
    assert "uplink every 4270 s or more" in out


def test_readings_that_do_not_fit_take_more_frames():
    # 16 readings of 4 quantities at DR0 (51 bytes) cannot travel in one frame
    p = plan(Deployment(sensors=("sds011", "sht3x"), interval_s=300, uplink_interval_s=4800, dr=0))
    r = p["radio"]
    assert r["readings_per_uplink"] == 16
    assert r["frames_per_uplink"] >= 2
    assert all(b <= 51 for b in r["frame_bytes"])
    assert r["uplinks_per_day"] == 18 * r["frames_per_uplink"]


def test_battery_life_by_hand_with_given_currents():
    zero = {k: 0.0 for k in ("esp32.active", "esp32.sleep", "lora-e5.tx", "lora-e5.rx", "lora-e5.sleep",
                             "sht3x.on", "sht3x.sleep", "sds011.sleep")}  # fmt: skip
    p = plan(Deployment(sensors=("sds011", "sht3x"), interval_s=300, dr=5, battery_mah=10000, usable=0.8,
                        currents=dict(zero, **{"sds011.on": 10.0})))  # fmt: skip
    b = p["battery"]
    # the SDS011 runs 30 s warm-up + 10 s sampling each of 288 intervals: 11520 s * 10 mA = 32 mAh/day
    assert b["mah_per_day"] == pytest.approx(32.0)
    assert b["life_days"] == pytest.approx(10000 * 0.8 / 32.0)


def test_sensor_without_a_known_current_is_named(capsys):
    code, out, _ = run(capsys, "plan", "deployment", "--sensors", "dnms", "--nodes", "10")
    assert code == 0
    assert "give --current dnms.on=MA" in out
    assert "battery life unknown" in out


def test_mqtt_framing_by_hand():
    # properties: content type 1+2+22, user property 1+2+5+2+17 -> 52, length byte -> 53
    # remaining: topic 2+15, packet id 2, properties 53, payload 126 = 198 (2-byte length); + PUBACK 4
    assert mqtt_publish_bytes(126, "edge/gw-0001/up") == 1 + 2 + 198 + 4


def test_backhaul_scales_with_nodes_and_uplinks():
    a = plan(Deployment(nodes=150, interval_s=300))["backhaul"]
    b = plan(Deployment(nodes=300, interval_s=300))["backhaul"]
    assert a["mb_per_month"] == pytest.approx(150 * 288 * a["message_bytes"] * 30 / 1e6)
    assert b["mb_per_month"] == pytest.approx(2 * a["mb_per_month"])


def test_flash_autonomy_follows_the_budget():
    small = plan(Deployment(interval_s=300, budget_bytes=65536))["flash"]
    large = plan(Deployment(interval_s=300, budget_bytes=262144))["flash"]
    # a reading costs at most its own absolute frame plus the record's length and CRC (16 + 4 bytes)
    assert 0 < small["bytes_per_reading"] <= 20
    assert large["days"] == pytest.approx(4 * small["days"], rel=0.05)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--sensors", "sds012"], "unknown sensor"),
        (["--board", "esp8266"], "unknown board"),
        (["--interval", "300", "--uplink-interval", "450"], "multiple"),
        (["--current", "sds011.sleep"], "PART.STATE=MA"),
        (["--dr", "9"], "data rate"),
    ],
)
def test_deployment_bad_input(capsys, argv, words):
    code, out, err = run(capsys, "plan", "deployment", *argv)
    assert code == 2
    assert words in err and len(err.strip().splitlines()) == 1
