"""Dimensioning a deployment: airtime, duty cycle, fair use, battery, flash autonomy, backhaul.

Every figure comes from one place of the project: time on air and the EU868 tables from
edge/lora.py, frame sizes from edge/payload.py (the bytes a node really sends), datalog bytes from
firmware/datalog.py (readings written to a real Datalog in a temporary directory), SenML-CBOR sizes
from gateway/forward/senml.py (the packs a gateway really publishes), node defaults from
firmware/config.py, boards and channels from hw/, part currents from fieldtools/parts.py.
"""

import json
import math
import tempfile
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

from drivers import registry
from edge import lora, payload
from fieldtools import parts

ROOT = Path(__file__).resolve().parent.parent
DAY_S = 86400
MONTH_DAYS = 30  # backhaul per month: 30 days
RX2_SF = 12  # EU868 RX2 default: DR0 = SF12/125 kHz (hw/channels/eu868.json)
RX_WINDOW_SYMBOLS = 8  # a receive window with no downlink stays open about a preamble's length
MCU_ACTIVE_S = 2.0  # MCU awake per interval besides the uplink: boot from sleep, reads, datalog write
USABLE_FRACTION = 0.8  # of the nominal capacity: self-discharge, cold, cut-off voltage
BATTERY_MAH = 10000.0
DEV_EUI = "70b3d57ed0000001"  # the example EUI of docs/platform.md; only its length matters here

# Typical values of each quantity: frame and pack sizes depend a little on the values.
TYPICAL = {
    "pm1": 8.2, "pm2_5": 12.3, "pm4": 15.6, "pm10": 20.1,
    "laeq": 55.4, "lamin": 41.2, "lamax": 78.9, "l10": 60.3, "l50": 53.1, "l90": 45.7,
    "temperature": 21.37, "humidity": 48.5, "pressure": 101320.0,
    "count_in": 17.0, "count_out": 12.0,
}  # fmt: skip


class PlanError(ValueError):
    """Input the planner cannot use; the message says what to change."""


def airtime_ms(phy_bytes: int, sf: int, bw_khz: int, cr: int = 1, preamble: int = 8) -> float:
    """Time on air of one LoRa frame in milliseconds (edge.lora, Semtech AN1200.13)."""
    try:
        return lora.time_on_air_us(phy_bytes, sf, bw_khz * 1000, cr=cr, preamble=preamble) / 1000.0
    except lora.RadioError as e:
        raise PlanError(str(e)) from None


def sf_to_dr(sf: int) -> int:
    """The EU868 data rate of a spreading factor at 125 kHz."""
    try:
        return lora.eu868_dr_of(sf, 125000)
    except lora.RadioError:
        raise PlanError("EU868 has no 125 kHz data rate at SF%d: use SF7..SF12" % sf) from None


def board(name: str) -> dict:
    path = ROOT / "hw" / "boards" / (name + ".json")
    if not path.is_file():
        known = sorted(p.stem for p in (ROOT / "hw" / "boards").glob("*.json"))
        raise PlanError("unknown board %r (known: %s)" % (name, ", ".join(known)))
    return json.loads(path.read_text())


def channel_plan() -> dict:
    return json.loads((ROOT / "hw" / "channels" / "eu868.json").read_text())


def node_defaults() -> dict:
    return dict(import_module("firmware.config").DEFAULTS)


def warmup_s(sensor: str) -> float:
    """The driver's own WARMUP_MS, in seconds (0 when the driver has none)."""
    return getattr(registry.driver_class(sensor), "WARMUP_MS", 0) / 1000.0


@dataclass
class Deployment:
    nodes: int = 150
    board: str = "esp32-devkitc"
    sensors: tuple[str, ...] = ("sds011", "sht3x")
    interval_s: int = 0  # 0: firmware default
    uplink_interval_s: int = 0  # 0: one uplink per interval
    dr: int | None = None  # None: firmware default
    battery_mah: float = BATTERY_MAH
    usable: float = USABLE_FRACTION
    currents: dict[str, float] = field(default_factory=dict)
    budget_bytes: int = 0  # 0: the board's datalog budget
    mcu_active_s: float = MCU_ACTIVE_S

    def resolved(self) -> "Deployment":
        d = node_defaults()
        out = Deployment(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        out.interval_s = self.interval_s or d["interval_s"]
        out.uplink_interval_s = self.uplink_interval_s or out.interval_s
        out.dr = d["dr"] if self.dr is None else self.dr
        out.budget_bytes = self.budget_bytes or board(self.board)["datalog_budget_bytes"]
        for s in self.sensors:
            if s not in registry.CHIPS:
                raise PlanError("unknown sensor %r (known: %s)" % (s, ", ".join(sorted(registry.CHIPS))))
        if self.nodes < 1:
            raise PlanError("--nodes must be at least 1")
        if out.interval_s < 1 or out.uplink_interval_s % out.interval_s:
            raise PlanError("the uplink interval must be a multiple of the measurement interval")
        if not 0 < self.usable <= 1:
            raise PlanError("--usable must be in (0, 1]")
        return out


def quantities(sensors: tuple[str, ...]) -> list[str]:
    names = {q for s in sensors for q in registry.quantities(s)}
    return [q for q in TYPICAL if q in names]


def readings(sensors: tuple[str, ...], n: int, interval_s: int, seq0: int = 1000, t0: int = 1763800000) -> list:
    values = {q: TYPICAL[q] for q in quantities(sensors)}
    return [dict(values, seq=seq0 + i, t=t0 + i * interval_s) for i in range(n)]


def frames(batch: list, max_payload: int) -> list[int]:
    """Sizes of the frames a node sends for batch, packed as the uplink policy packs them (relative
    to the last seq the gateway saw and the uplink time)."""
    sizes = []
    rest = list(batch)
    while rest:
        ref = {"seq": rest[0]["seq"] - 1, "t": rest[-1]["t"] + 5}
        n = payload.max_readings_in(rest, max_payload, ref)
        if n == 0:
            raise PlanError("one reading does not fit the %d-byte payload of this data rate" % max_payload)
        sizes.append(len(payload.encode(rest[:n], ref)))
        rest = rest[n:]
    return sizes


def radio(dep: Deployment) -> dict:
    """Frames, airtime, duty cycle and fair use of one node."""
    assert dep.dr is not None
    sf, bw, max_payload = lora.eu868_dr(dep.dr)
    per_uplink = dep.uplink_interval_s // dep.interval_s
    sizes = frames(readings(dep.sensors, per_uplink, dep.interval_s), max_payload)
    toa_ms = [airtime_ms(lora.PHY_OVERHEAD + s, sf, bw // 1000) for s in sizes]
    events_per_day = DAY_S / dep.uplink_interval_s
    uplinks_per_day = events_per_day * len(sizes)
    airtime_s_day = events_per_day * sum(toa_ms) / 1000.0
    channels = [c["freq"] for c in channel_plan()["uplink"] if c["dr_min"] <= dep.dr <= c["dr_max"]]
    bands = []
    for i, (lo, hi, permille) in enumerate(lora.EU868_SUBBANDS):
        inside = [f for f in channels if lo <= f <= hi]
        if not inside:
            continue
        used_s_h = airtime_s_day / 24 * len(inside) / len(channels)
        limit_s_h = 3600.0 * permille / 1000
        bands.append({
            "subband": i, "lo_mhz": lo / 1e6, "hi_mhz": hi / 1e6, "duty_pct": permille / 10,
            "channels": len(inside), "airtime_s_per_h": used_s_h, "limit_s_per_h": limit_s_h,
            "used_pct": 100.0 * used_s_h / 3600, "margin": limit_s_h / used_s_h if used_s_h else math.inf,
        })  # fmt: skip
    longest = max(toa_ms)
    duty = min(b["duty_pct"] for b in bands) / 100
    # the node's airtime policy per uplink.network: the duty cycle everywhere, TTN's fair use on top
    fair_use_s = float(import_module("firmware.config").NETWORK_FAIR_USE_S["ttn"])
    duty_ok = all(b["margin"] >= 1 for b in bands)
    return {
        "sf": sf, "bw_khz": bw // 1000, "max_payload": max_payload, "readings_per_uplink": per_uplink,
        "frames_per_uplink": len(sizes), "frame_bytes": sizes, "phy_bytes": [lora.PHY_OVERHEAD + s for s in sizes],
        "toa_ms": toa_ms, "uplinks_per_day": uplinks_per_day, "airtime_s_per_day": airtime_s_day,
        "off_time_s": longest / 1000 * (1 / duty - 1), "subbands": bands,
        "fair_use_s": fair_use_s, "fair_use_margin": fair_use_s / airtime_s_day,
        "networks": {"private": duty_ok, "ttn": duty_ok and fair_use_s >= airtime_s_day},
    }  # fmt: skip


def channel_load(dep: Deployment, r: dict) -> dict:
    """Pure-ALOHA load of the gateway's channels at this data rate (all nodes at one SF)."""
    n_channels = r["subbands"] and sum(b["channels"] for b in r["subbands"])
    g = dep.nodes * r["airtime_s_per_day"] / DAY_S / n_channels
    return {"uplinks_per_s": dep.nodes * r["uplinks_per_day"] / DAY_S, "load_per_channel": g,
            "aloha_success": math.exp(-2 * g), "channels": n_channels}  # fmt: skip


def battery(dep: Deployment, r: dict) -> dict:
    """Charge per day by part and state, and the battery life; 'missing' lists unknown currents."""
    b = board(dep.board)
    mcu, modem = b["mcu"], "lora-e5"
    rows = []
    missing = []
    uplinks = r["uplinks_per_day"]
    tx_s = r["airtime_s_per_day"]
    tsym = lambda sf: (1 << sf) / (r["bw_khz"] * 1000.0)  # noqa: E731
    rx_s = uplinks * RX_WINDOW_SYMBOLS * (tsym(r["sf"]) + tsym(RX2_SF))
    rx2_end = channel_plan()["rx1_delay_s"] + 1 + RX_WINDOW_SYMBOLS * tsym(RX2_SF)
    intervals = DAY_S / dep.interval_s
    mcu_on = min(DAY_S, intervals * dep.mcu_active_s + uplinks * (max(r["toa_ms"]) / 1000 + rx2_end))
    plan = [(mcu, "active", mcu_on), (mcu, "sleep", DAY_S - mcu_on),
            (modem, "tx", tx_s), (modem, "rx", rx_s), (modem, "sleep", DAY_S - tx_s - rx_s)]  # fmt: skip
    window = node_defaults()["sample_s"]
    samples = node_defaults()["samples"]
    for s in dep.sensors:
        if s in parts.CONTINUOUS:
            on = DAY_S
        elif warmup_s(s):
            on = min(DAY_S, intervals * (warmup_s(s) + window))
        else:
            on = intervals * samples * parts.SINGLE_SHOT_S
        plan += [(s, "on", on), (s, "sleep", DAY_S - on)]
    for part, state, seconds in plan:
        c = parts.current(part, state, dep.currents)
        if c is None:
            if seconds > 0:
                missing.append("%s.%s" % (part, state))
            continue
        ma, source = c
        rows.append({"part": part, "state": state, "ma": ma, "s_per_day": seconds,
                     "mah_per_day": ma * seconds / 3600, "source": source})  # fmt: skip
    per_day = sum(row["mah_per_day"] for row in rows)
    life = dep.battery_mah * dep.usable / per_day if per_day and not missing else None
    return {"rows": rows, "mah_per_day": per_day, "average_ma": per_day / 24, "missing": missing,
            "battery_mah": dep.battery_mah, "usable": dep.usable, "life_days": life}  # fmt: skip


def flash(dep: Deployment) -> dict:
    """Days of readings the datalog holds before it drops the oldest: measured by writing readings
    to a real firmware Datalog with the board's budget and the firmware's batch size."""
    datalog = import_module("firmware.datalog")
    batch = node_defaults()["batch"]
    n = 20 * batch
    with tempfile.TemporaryDirectory() as tmp:
        log = datalog.Datalog(tmp + "/log", dep.budget_bytes, batch=batch)
        for r in readings(dep.sensors, n, dep.interval_s):
            del r["seq"]
            log.append(r)
        log.flush()
        per_reading = log.used_bytes / n
    capacity = dep.budget_bytes / per_reading
    return {"budget_bytes": dep.budget_bytes, "batch": batch, "bytes_per_reading": per_reading,
            "readings": capacity, "days": capacity * dep.interval_s / DAY_S}  # fmt: skip


def _varint_len(n: int) -> int:
    return 1 if n < 128 else 2 if n < 16384 else 3 if n < 2097152 else 4


def mqtt_publish_bytes(payload_len: int, topic: str, mqtt5: bool = True) -> int:
    """Bytes of a QoS 1 PUBLISH (MQTT 5 with the forwarder's two properties) plus its PUBACK."""
    props = 0
    if mqtt5:
        ct = import_module("gateway.forward.senml").CONTENT_TYPE
        batch_label = "%d.%d" % (1763800000, 123456)  # boot time and batch number
        body = (1 + 2 + len(ct)) + (1 + 2 + len("batch") + 2 + len(batch_label))
        props = _varint_len(body) + body
    remaining = 2 + len(topic) + 2 + props + payload_len
    return 1 + _varint_len(remaining) + remaining + 4


SIZES_SOURCE = "gateway/forward/senml.py (docs/platform.md), MQTT 5 QoS 1 framing; TCP/IP and TLS not counted"


def backhaul(dep: Deployment, r: dict, topic: str = "edge/gw-0001/up") -> dict:
    """MB per month per gateway: each uplink's readings published as their own SenML-CBOR message
    (live traffic; batches of several devices are smaller per reading)."""
    senml = import_module("gateway.forward.senml")
    batch = [(x["seq"], x["t"], {q: x[q] for q in x if q not in ("seq", "t")})
             for x in readings(dep.sensors, r["readings_per_uplink"], dep.interval_s)]  # fmt: skip
    pack = len(senml.encode_pack([(DEV_EUI, batch)]))
    message = mqtt_publish_bytes(pack, topic)
    per_day = dep.nodes * DAY_S / dep.uplink_interval_s * message
    return {"pack_bytes": pack, "message_bytes": message, "mb_per_month": per_day * MONTH_DAYS / 1e6,
            "source": SIZES_SOURCE}  # fmt: skip


def plan(dep: Deployment) -> dict:
    d = dep.resolved()
    r = radio(d)
    return {"deployment": d, "radio": r, "load": channel_load(d, r), "battery": battery(d, r),
            "flash": flash(d), "backhaul": backhaul(d, r)}  # fmt: skip
