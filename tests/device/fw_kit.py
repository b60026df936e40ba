# A node on the bench, for device tests and the VM benchmarks: the real firmware with every driver
# emulator attached, a small HAL, and a LoRa-E5 stand-in on the UART. The stand-in answers the
# module's AT replies with its timing but builds no LoRaWAN frames (AES lives in CPython's
# cryptography, not on the VM): it records each payload so a test can decode it like the gateway.
# The full emulator with real frames is simulator/modem/e5.py (tests/firmware/).
from edge.clock import VirtualClock
from simulator.devices.bme280 import BME280Emulator
from simulator.devices.dnms import DNMSEmulator
from simulator.devices.i2c import VirtualI2C
from simulator.devices.pcb_db import DecibelMeterEmulator
from simulator.devices.pins import IrqGuard, VirtualPin
from simulator.devices.sds011 import SDS011Emulator
from simulator.devices.sht3x import SHT3xEmulator
from simulator.devices.sht4x import SHT4xEmulator
from simulator.devices.sps30 import SPS30Emulator

START = 1763799900  # a multiple of 300

ALL_SENSORS = [
    {"type": "sds011", "uart": "pm"},
    {"type": "sps30", "i2c": 0},
    {"type": "sht4x", "i2c": 0},
    {"type": "sht3x", "i2c": 0, "address": 0x45},
    {"type": "bme280", "i2c": 0},
    {"type": "dnms", "i2c": 0},
    {"type": "pcb_db", "i2c": 0},
    {"type": "beam_counter", "pins": ["counter_a", "counter_b"]},
]


class BenchModem:
    """LoRa-E5 replies on a UART, joined after the join-accept delay, a downlink queue."""

    def __init__(self, clock):
        self.clock = clock
        self.out = bytearray()
        self._line = bytearray()
        self._later = []  # (due ms, line)
        self.joined = False
        self.payloads = []  # (port, bytes) of the last few uplinks
        self.downlinks = []  # FPort 2 payloads to answer with
        self.port = 1
        self.ack_confirmed = True  # CMSGHEX gets "ACK Received" (False: the network's ack is lost)
        self.confirmed = 0  # CMSGHEX commands received

    def _now(self):
        return self.clock.monotonic_ms()

    def _pump(self):
        now = self._now()
        keep = []
        for due, line in self._later:
            if due <= now:
                self.out.extend(line.encode() + b"\r\n")
            else:
                keep.append((due, line))
        self._later = keep

    def any(self):
        self._pump()
        return len(self.out)

    def read(self, n=None):
        self._pump()
        if not self.out:
            return None
        data = bytes(self.out)
        self.out = bytearray()
        return data

    def write(self, buf):
        for b in buf:
            if b == 10:
                self._command(bytes(self._line).strip().decode())
                self._line = bytearray()
            elif b != 0xFF:
                self._line.append(b)
        return len(buf)

    def _say(self, line, delay=0):
        self._later.append((self._now() + delay, line))

    def _command(self, line):
        if line == "AT":
            self._say("+AT: OK")
            return
        name = line[3:].split("=")[0]
        arg = line.split("=", 1)[1] if "=" in line else ""
        if name == "JOIN":
            self._say("+JOIN: Start")
            self._say("+JOIN: Network joined", 5100)
            self._say("+JOIN: Done", 5100)
            self.joined = True
        elif name == "PORT":
            self.port = int(arg)
            self._say("+PORT: %s" % arg)
        elif name == "LW":
            self._say("+LW: LEN, 51")
        elif name in ("MSGHEX", "CMSGHEX"):
            self.payloads.append((self.port, bytes.fromhex(arg.strip('"'))))
            if len(self.payloads) > 8:
                self.payloads.pop(0)  # bounded: benchmarks measure the firmware's heap, not this list
            self._say("+%s: Start" % name)
            if self.downlinks:
                hexdata = "".join("%02X" % x for x in self.downlinks.pop(0))
                self._say('+%s: PORT: 2; RX: "%s"' % (name, hexdata), 1200)
                self._say("+%s: RXWIN1, RSSI -60, SNR 8.0" % name, 1200)
                self._say("+%s: Done" % name, 1200)
            else:
                if name == "CMSGHEX":
                    self.confirmed += 1
                    if self.ack_confirmed:
                        self._say("+CMSGHEX: ACK Received", 2100)
                self._say("+%s: Done" % name, 2200)
        else:
            self._say("+%s: %s" % (name, arg))


class BenchHAL:
    """The HAL of firmware/app.py for one node on one VirtualClock (single node: sleeps move it)."""

    def __init__(self, clock, board):
        self.clock = clock
        self.board = board
        self.irq_guard = IrqGuard()
        self.i2c0 = VirtualI2C()
        self.uarts = {}
        self.pins = {}
        self.stashes = {}
        self.resets = 0

    def i2c(self, name):
        return self.i2c0

    def uart(self, name):
        return self.uarts[name]

    def pin(self, name):
        if name not in self.pins:
            self.pins[name] = VirtualPin(0, irq_guard=self.irq_guard)
        return self.pins[name]

    def stash(self, name):
        return self.stashes.get(name)

    def wdt_start(self, ms):
        pass

    def wdt_feed(self):
        pass

    def sleep_ms(self, ms):
        self.clock.sleep_ms(ms)

    def set_time(self, unix_s):
        self.clock.set_time(unix_s)

    def reset(self):
        self.resets += 1
        raise RuntimeError("reset")

    def log(self, text):
        pass


def config_data(sensors):
    return {
        "node_id": "bench-1",
        "board": "esp32-devkitc",
        "lorawan": {
            "dev_eui": "70b3d57ed0000042",
            "join_eui": "0000000000000001",
            "app_key": "2b7e151628aed2a6abf7158809cf4f3c",
            "dr": 0,
            "join_window_s": 0,  # joins at power-up: these nodes are about their sensors
        },
        "interval_s": 300,
        "sensors": sensors,
        "uplink": {"fair_use_s_per_day": 0},
    }


def bench_node(data_dir, sensors=None, batch=None):
    """(node, hal, emulators dict) with every sensor of ALL_SENSORS attached and set."""
    from firmware.app import Node
    from firmware.config import Config, load_board

    data = config_data(ALL_SENSORS if sensors is None else sensors)
    if batch is not None:
        data["datalog"] = {"batch": batch}
    cfg = Config(data, load_board("esp32-devkitc", "hw"))
    clock = VirtualClock(unix_start=START)
    hal = BenchHAL(clock, cfg.board)
    emus = {}
    hal.uarts["modem"] = BenchModem(clock)
    emus["sds011"] = hal.uarts["pm"] = SDS011Emulator(clock=clock)
    emus["sds011"].set(pm2_5=12.3, pm10=20.0)
    emus["sps30"] = hal.i2c0.attach(SPS30Emulator(clock=clock))
    emus["sps30"].set(pm1=5.0, pm2_5=11.0, pm4=15.0, pm10=19.0)
    emus["sht4x"] = hal.i2c0.attach(SHT4xEmulator(clock=clock))
    emus["sht4x"].set(temperature=21.5, humidity=48.0)
    emus["sht3x"] = hal.i2c0.attach(SHT3xEmulator(clock=clock), 0x45)
    emus["sht3x"].set(temperature=21.4, humidity=49.0)
    emus["bme280"] = hal.i2c0.attach(BME280Emulator(clock=clock))
    emus["bme280"].set(temperature=21.6, humidity=47.0, pressure=101300.0)
    emus["dnms"] = hal.i2c0.attach(DNMSEmulator(clock=clock))
    emus["dnms"].set(laeq=55.0, lamin=48.0, lamax=70.0)
    emus["pcb_db"] = hal.i2c0.attach(DecibelMeterEmulator(clock=clock))
    emus["pcb_db"].set(laeq=55.0, lamin=48.0, lamax=70.0)
    node = Node(hal, cfg, data_dir)
    return node, hal, emus
