"""Builds a virtual node for the firmware tests: real firmware, driver emulators, modem emulator,
the loopback network server, on a VirtualClock."""

from __future__ import annotations

import json
from pathlib import Path

from edge.clock import VirtualClock
from firmware.app import Node
from firmware.config import Config, load_board
from simulator.devices.sds011 import SDS011Emulator
from simulator.devices.sht4x import SHT4xEmulator
from simulator.modem.e5 import LoRaE5Emulator
from simulator.modem.network import LoopbackNetwork
from simulator.node_hal import VirtualHAL

ROOT = Path(__file__).resolve().parents[2]
DEV_EUI = bytes.fromhex("70b3d57ed0000042")
APP_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
START = 1763800000 - 1763800000 % 300  # an interval boundary


LORAWAN = {"dev_eui": DEV_EUI.hex(), "join_eui": "0000000000000001", "app_key": APP_KEY.hex(), "dr": 5}


def config(**over):
    data = {
        "node_id": "lamp-0042",
        "board": "esp32-devkitc",
        "lorawan": dict(LORAWAN),
        "interval_s": 300,
        "sensors": [{"type": "sds011", "uart": "pm"}, {"type": "sht4x", "i2c": 0}],
    }
    data.update(over)
    return Config(json.loads(json.dumps(data)), load_board(data["board"], str(ROOT / "hw")))


class Kit:
    def __init__(self, tmp_path, cfg=None, seed=1, duty_cycle=True):
        self.clock = VirtualClock(unix_start=START)
        self.net = LoopbackNetwork(self.clock)
        self.dev = self.net.register(DEV_EUI, APP_KEY)
        self.cfg = cfg or config()
        self.hal = VirtualHAL(self.clock, self.cfg.board)
        nc = self.hal.clock  # the node's own clock: its emulators live on it
        self.net.clock = nc
        self.modem = self.hal.attach_uart("modem", LoRaE5Emulator(nc, radio=self.net, seed=seed, duty_cycle=duty_cycle))
        self.pm = self.hal.attach_uart("pm", SDS011Emulator(clock=nc))
        self.pm.set(pm2_5=12.3, pm10=20.0)
        self.th = self.hal.i2c("0").attach(SHT4xEmulator(clock=nc))
        self.th.set(temperature=21.5, humidity=48.0)
        self.data_dir = str(tmp_path / "data")
        self.node = self.boot()

    def boot(self):
        self.node = Node(self.hal, self.cfg, self.data_dir)
        return self.node
