# Device configuration: the JSON file written at provisioning (docs/firmware.md), checked in full at
# boot. Every problem is collected, so a technician sees all of them at once; the node then idles
# safely (main.py) instead of crash-looping. Board wiring comes from hw/boards/<board>.json.
import json

from drivers.registry import CHIPS
from edge import vocab
from firmware import derived, events

# The one place for the node's defaults.
DEFAULTS = {
    "interval_s": 300,
    "sample_s": 10,  # PM and T/RH/P samples are taken over the last sample_s of the interval
    "samples": 5,
    "noise_sample_s": 10,  # short LAeq periods that make the L10/L50/L90 histogram
    "dr": 5,  # EU868 DR5 = SF7/125 kHz
    "adr": True,  # the modem's LoRaWAN stack follows the network's LinkADRReq and backs off itself
    "network": "private",
    "duty_cycle": True,
    "max_backlog_per_uplink": 16,
    "datalog_dir": "/data/log",
    "batch": 8,
    "join_retries": 0,  # 0: keep trying, backing off to join_backoff_max_s
    "join_backoff_max_s": 3600,
    "join_window_s": 300,  # the first join-request goes at a random moment of this long after power-up
}

# uplink.network -> the fair-use airtime budget (s/day) it imposes on top of the sub-band duty cycle:
# none on the city's own gateway, The Things Network's fair access policy (30 s a day) on TTN.
NETWORK_FAIR_USE_S = {"private": 0, "ttn": 30}

MIN_INTERVAL_S = 10
MAX_INTERVAL_S = 86400


def _i2c_address(problems, where, addr):
    """A configured I2C address as an int ("0x44" accepted), a problem noted when it is no 7-bit
    address; None when none is configured."""
    if addr is None:
        return None
    if isinstance(addr, str):
        try:
            addr = int(addr, 0)
        except ValueError:
            addr = -1
    if not isinstance(addr, int) or not 0x08 <= addr <= 0x77:
        problems.append("%s.address must be a 7-bit I2C address" % where)
    return addr


def _calibration(problems, where, cal, out):
    """Per-quantity [gain > 0, offset] into out as float pairs; each bad entry noted."""
    if not isinstance(cal, dict):
        problems.append("%s.calibration must map quantities to [gain, offset]" % where)
        return
    for q in cal:
        g = cal[q]
        ok = isinstance(g, list) and len(g) == 2
        ok = ok and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in g)
        if q not in vocab.BY_NAME or not ok or g[0] <= 0:
            problems.append("%s.calibration.%s must be [gain > 0, offset]" % (where, q))
        else:
            out[q] = (float(g[0]), float(g[1]))


class ConfigError(ValueError):
    """The configuration cannot run; .problems lists every reason."""

    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


def _hex(problems, lw, key, nbytes):
    v = lw.get(key)
    if not isinstance(v, str) or len(v) != 2 * nbytes:
        problems.append("lorawan.%s must be %d hex digits" % (key, 2 * nbytes))
        return None
    try:
        return bytes.fromhex(v)
    except ValueError:
        problems.append("lorawan.%s is not hex" % key)
        return None


def _int(problems, d, key, lo, hi, default, where):
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or v > hi:
        problems.append("%s%s must be an integer %d..%d" % (where, key, lo, hi))
        return default
    return v


class Config:
    """A checked configuration. Attributes: node_id, board (dict), lorawan (dict with bytes keys),
    interval_s, sample_s, samples, noise_sample_s, sensors (list of dicts), datalog (dict), uplink
    (dict), events (dict or None, firmware.events). Raises ConfigError."""

    def __init__(self, data, board):
        problems = []
        if not isinstance(data, dict):
            raise ConfigError(["the config must be a JSON object"])
        self.node_id = data.get("node_id", "")
        if not isinstance(self.node_id, str) or not self.node_id:
            problems.append("node_id must be a non-empty string")
        self.board = board
        self.interval_s = _int(problems, data, "interval_s", MIN_INTERVAL_S, MAX_INTERVAL_S, DEFAULTS["interval_s"], "")
        self.sample_s = _int(problems, data, "sample_s", 0, 600, DEFAULTS["sample_s"], "")
        self.samples = _int(problems, data, "samples", 1, 60, DEFAULTS["samples"], "")
        self.noise_sample_s = _int(problems, data, "noise_sample_s", 1, 3600, DEFAULTS["noise_sample_s"], "")
        if self.sample_s >= self.interval_s:
            problems.append("sample_s must be shorter than interval_s")
        self.lorawan = self._lorawan(problems, data.get("lorawan"))
        self.sensors = self._sensors(problems, data.get("sensors"), board)
        self.datalog = self._datalog(problems, data.get("datalog", {}), board)
        self.uplink = self._uplink(problems, data.get("uplink", {}))
        produced = []
        for spec in self.sensors:
            produced.extend(CHIPS[spec["type"]][3] + derived.quantities(spec["derived"]))
        self.events = events.parse(problems, data.get("events"), self.interval_s, produced)
        if problems:
            raise ConfigError(problems)

    def _lorawan(self, problems, lw):
        if not isinstance(lw, dict):
            problems.append("lorawan section missing")
            return {}
        out = {}
        if lw.get("activation", "otaa") != "otaa":
            problems.append("lorawan.activation: only otaa is supported")
        out["dev_eui"] = _hex(problems, lw, "dev_eui", 8)
        out["join_eui"] = _hex(problems, lw, "join_eui", 8)
        out["app_key"] = _hex(problems, lw, "app_key", 16)
        out["dr"] = _int(problems, lw, "dr", 0, 5, DEFAULTS["dr"], "lorawan.")
        out["adr"] = bool(lw.get("adr", DEFAULTS["adr"]))
        out["join_retries"] = _int(problems, lw, "join_retries", 0, 1000, DEFAULTS["join_retries"], "lorawan.")
        out["join_backoff_max_s"] = _int(
            problems, lw, "join_backoff_max_s", 10, 86400, DEFAULTS["join_backoff_max_s"], "lorawan."
        )
        out["join_window_s"] = _int(problems, lw, "join_window_s", 0, 3600, DEFAULTS["join_window_s"], "lorawan.")
        return out

    def _sensors(self, problems, sensors, board):
        if not isinstance(sensors, list):
            problems.append("sensors must be a list")
            return []
        out = []
        seen = {}
        for i in range(len(sensors)):
            s = sensors[i]
            where = "sensors[%d]" % i
            if not isinstance(s, dict) or s.get("type") not in CHIPS:
                t = s.get("type") if isinstance(s, dict) else None
                problems.append("%s.type %r is not one of %s" % (where, t, ", ".join(sorted(CHIPS))))
                continue
            kind = CHIPS[s["type"]][2]
            spec = {"type": s["type"], "calibration": {}}
            if kind == "uart":
                port = s.get("uart", "pm")
                if port not in board.get("uart", {}) or port == "modem":
                    problems.append("%s.uart: board %s has no UART %r for sensors" % (where, board["name"], port))
                spec["uart"] = port
            elif kind == "i2c":
                bus = str(s.get("i2c", "0"))
                if bus not in board.get("i2c", {}):
                    problems.append("%s.i2c: board %s has no I2C bus %s" % (where, board["name"], bus))
                spec["i2c"] = bus
                addr = _i2c_address(problems, where, s.get("address"))
                if addr is not None:
                    key = (bus, addr)
                    if key in seen:
                        problems.append("%s.address 0x%02x is also used by %s" % (where, addr, seen[key]))
                    seen[key] = where
                spec["address"] = addr
            else:
                pins = s.get("pins", ["counter_a", "counter_b"] if kind == "pins" else ["counter_a"])
                if not isinstance(pins, list) or len(pins) != (2 if kind == "pins" else 1):
                    problems.append("%s.pins must list %d pin name(s)" % (where, 2 if kind == "pins" else 1))
                    pins = []
                for p in pins:
                    if p not in board.get("pins", {}):
                        problems.append("%s.pins: board %s has no pin %r" % (where, board["name"], p))
                spec["pins"] = pins
            _calibration(problems, where, s.get("calibration", {}), spec["calibration"])
            spec["derived"] = derived.parse(problems, where, s, CHIPS[s["type"]][3])
            out.append(spec)
        return out

    def _datalog(self, problems, d, board):
        if not isinstance(d, dict):
            problems.append("datalog must be an object")
            d = {}
        budget = board.get("datalog_budget_bytes", 65536)
        return {
            "dir": d.get("dir", DEFAULTS["datalog_dir"]),
            "budget_bytes": _int(problems, d, "budget_bytes", 1024, 1 << 30, budget, "datalog."),
            "batch": _int(problems, d, "batch", 1, 16, DEFAULTS["batch"], "datalog."),
        }

    def _uplink(self, problems, u):
        if not isinstance(u, dict):
            problems.append("uplink must be an object")
            u = {}
        network = u.get("network", DEFAULTS["network"])
        if network not in NETWORK_FAIR_USE_S:
            problems.append("uplink.network must be one of %s" % ", ".join(sorted(NETWORK_FAIR_USE_S)))
            network = DEFAULTS["network"]
        fair = NETWORK_FAIR_USE_S[network]
        # on TTN the budget can be tightened, never loosened nor switched off; a private network may
        # set its own (0: none)
        lo, hi = (1, fair) if fair else (0, 86400)
        return {
            "network": network,
            "fair_use_s_per_day": _int(problems, u, "fair_use_s_per_day", lo, hi, fair, "uplink."),
            "duty_cycle": bool(u.get("duty_cycle", DEFAULTS["duty_cycle"])),
            "max_backlog_per_uplink": _int(
                problems, u, "max_backlog_per_uplink", 0, 16, DEFAULTS["max_backlog_per_uplink"], "uplink."
            ),
        }


def _read_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        raise ConfigError(["%s %s not found" % (what, path)]) from None
    except ValueError as e:
        raise ConfigError(["%s %s is not valid JSON: %s" % (what, path, e)]) from None


def load_board(name, hw_dir="hw"):
    if not isinstance(name, str) or not name or "/" in name:
        raise ConfigError(["board must name a file of hw/boards/"])
    board = _read_json("%s/boards/%s.json" % (hw_dir, name), "board file")
    if not isinstance(board, dict) or board.get("name") != name:
        raise ConfigError(["board file for %s is malformed" % name])
    plan = board.get("channel_plan")
    if plan is not None:
        # hw/channels/<plan>.json: the uplink channels the duty-cycle bookkeeping charges
        chans = _read_json("%s/channels/%s.json" % (hw_dir, plan), "channel plan")
        try:
            board["channels"] = [int(c["freq"]) for c in chans["uplink"]]
        except (KeyError, TypeError, ValueError):
            raise ConfigError(["channel plan %s is malformed" % plan]) from None
    return board


def load(path="config.json", hw_dir="hw"):
    """Read and check the device config and its board file; raises ConfigError."""
    data = _read_json(path, "config file")
    if not isinstance(data, dict):
        raise ConfigError(["the config must be a JSON object"])
    return Config(data, load_board(data.get("board"), hw_dir))
