"""Uplinks a day that fit at SF7 (DR5) and SF12 (DR0) for a 5-minute interval, measured by running
the real firmware for a simulated day against the LoRa-E5 emulator (real LoRaWAN frames, its own
duty-cycle limiter) and the loopback network server, with and without the 30 s/day fair-use budget.

    uv run python bench/firmware_uplinks.py

Sensor sets: "typical" = SDS011 + SHT4x + DNMS (pm2_5 pm10 temperature humidity laeq lamin lamax
l10 l50 l90); "full" = every driver of tests/device/fw_kit.py (all 15 quantities but counts=0).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge import lora  # noqa: E402
from edge.clock import VirtualClock  # noqa: E402
from firmware.app import Node  # noqa: E402
from firmware.config import Config, load_board  # noqa: E402
from simulator.devices.bme280 import BME280Emulator  # noqa: E402
from simulator.devices.dnms import DNMSEmulator  # noqa: E402
from simulator.devices.pcb_db import DecibelMeterEmulator  # noqa: E402
from simulator.devices.sds011 import SDS011Emulator  # noqa: E402
from simulator.devices.sht3x import SHT3xEmulator  # noqa: E402
from simulator.devices.sht4x import SHT4xEmulator  # noqa: E402
from simulator.devices.sps30 import SPS30Emulator  # noqa: E402
from simulator.modem.e5 import LoRaE5Emulator  # noqa: E402
from simulator.modem.network import LoopbackNetwork  # noqa: E402
from simulator.node_hal import VirtualHAL  # noqa: E402
from tests.device.fw_kit import ALL_SENSORS, START, config_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TYPICAL = [{"type": "sds011", "uart": "pm"}, {"type": "sht4x", "i2c": 0}, {"type": "dnms", "i2c": 0}]
DAY_INTERVALS = 288


def run(sensors: list[dict], dr: int, fair_use_s: int) -> dict:
    data = config_data(sensors)
    data["lorawan"]["dr"] = dr
    data["uplink"] = {"fair_use_s_per_day": fair_use_s}
    cfg = Config(data, load_board("esp32-devkitc", str(ROOT / "hw")))
    clock = VirtualClock(unix_start=START)
    net = LoopbackNetwork(clock)
    dev = net.register(bytes.fromhex(data["lorawan"]["dev_eui"]), bytes.fromhex(data["lorawan"]["app_key"]))
    hal = VirtualHAL(clock, cfg.board)
    nc = hal.clock
    net.clock = nc
    modem = hal.attach_uart("modem", LoRaE5Emulator(nc, radio=net, seed=dr))
    hal.attach_uart("pm", SDS011Emulator(clock=nc)).set(pm2_5=12.3, pm10=20.0)
    bus = hal.i2c("0")
    bus.attach(SPS30Emulator(clock=nc)).set(pm1=5.0, pm2_5=11.0, pm4=15.0, pm10=19.0)
    bus.attach(SHT4xEmulator(clock=nc)).set(temperature=21.5, humidity=48.0)
    bus.attach(SHT3xEmulator(clock=nc), 0x45).set(temperature=21.4, humidity=49.0)
    bus.attach(BME280Emulator(clock=nc)).set(temperature=21.6, humidity=47.0, pressure=101300.0)
    bus.attach(DNMSEmulator(clock=nc)).set(laeq=55.0, lamin=48.0, lamax=70.0)
    bus.attach(DecibelMeterEmulator(clock=nc)).set(laeq=55.0, lamin=48.0, lamax=70.0)
    node = Node(hal, cfg, tempfile.mkdtemp(prefix="uplinks-"))
    for _ in range(DAY_INTERVALS):
        node.run_interval()
    frames = modem.tx_log[1:]  # the first frame is the join-request
    per_band: dict[int, int] = {}
    for _, freq, airtime in modem.tx_log:
        b = lora.eu868_subband(freq)
        per_band[b] = per_band.get(b, 0) + airtime
    delivered = len(dev.readings)
    return {
        "dr": dr,
        "sf": lora.eu868_dr(dr)[0],
        "fair_use_s": fair_use_s,
        "uplinks": len(frames),
        "readings_generated": node.log.last_seq,
        "readings_on_air": delivered,
        "readings_per_uplink": round(delivered / len(frames), 2) if frames else 0,
        "airtime_s": round(sum(a for _, _, a in frames) / 1000, 2),
        "max_subband_duty_percent": round(max(per_band.values()) / 86400000 * 100, 3),
        "budget_skips": node.counters["budget_skips"],
    }


def main() -> None:
    results = []
    t0 = time.time()
    for name, sensors in (("typical", TYPICAL), ("full", ALL_SENSORS)):
        for dr in (5, 0):
            for fair in (0, 30):
                r = run(sensors, dr, fair)
                r["sensors"] = name
                results.append(r)
                print(json.dumps(r))
    print("wall %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
