"""Supply currents of the parts a node may carry: the planner's battery defaults, in one place.

Each entry: part -> state -> (milliamperes, source). Values are typical figures from the parts'
datasheets unless the source says otherwise; every one can be overridden on the command line
(``edge plan deployment --current sds011.sleep=0`` when a MOSFET cuts the sensor's supply).
Currents are summed at the battery: regulator quiescent current, converter losses and the USB
bridge of a development board are not in the table (measure your board and override).
"""

# mA, source
Current = tuple[float, str]

PARTS: dict[str, dict[str, Current]] = {
    # MCUs. "active": CPU running, radio off; "sleep": the sleep mode the firmware uses between cycles.
    "esp32": {
        "active": (31.0, "Espressif ESP32 Series Datasheet, power modes table: modem-sleep, CPU 80 MHz, 20-31 mA"),
        "sleep": (0.010, "Espressif ESP32 Series Datasheet, power modes table: deep-sleep, RTC timer + RTC memory"),
    },
    "rp2040": {
        "active": (25.0, "estimate for an RP2040 at 125 MHz with Wi-Fi off: measure your board and override"),
        "sleep": (1.5, "MicroPython rp2 machine.lightsleep commit: about 1.5 mA measured on a Pico, timer wake"),
    },
    # LoRaWAN modem (UART AT firmware). RX: receive windows; TX: 14 dBm, the EU868 default maximum EIRP.
    "lora-e5": {
        "tx": (86.0, "Seeed forum 'LoRa-E5 FW bug, TX EU868 => 85mA': 86 mA measured at 14 dBm, stock ST firmware"),
        "rx": (4.6, "Semtech SX1261/2 datasheet, receive mode LoRa 125 kHz, DC-DC: 4.6 mA (the E5's radio core)"),
        "sleep": (0.0021, "Seeed LoRa-E5 datasheet, features: 2.1 uA sleep current"),
    },
    # Sensors. "on": measuring (fan and laser for PM); "sleep": after the sleep command.
    "sds011": {
        "on": (70.0, "Nova Fitness SDS011 specification V1.3, technical parameters: rated current 70 mA +-10 mA"),
        "sleep": (4.0, "Nova Fitness SDS011 specification V1.3: sleep current < 4 mA (laser and fan off)"),
    },
    "pms5003": {
        "on": (100.0, "Plantower PMS5003 manual, technical index: active current <= 100 mA"),
        "sleep": (0.2, "Plantower PMS5003 manual, technical index: standby current <= 200 uA"),
    },
    "sps30": {
        "on": (60.0, "Sensirion SPS30 datasheet, electrical specifications: measurement mode, average"),
        "sleep": (0.038, "Sensirion SPS30 datasheet, electrical specifications: sleep mode 38 uA"),
    },
    "sht3x": {
        "on": (0.6, "Sensirion SHT3x-DIS datasheet, electrical specifications: measuring, typ. 600 uA"),
        "sleep": (0.0002, "Sensirion SHT3x-DIS datasheet, electrical specifications: idle (single shot), typ. 0.2 uA"),
    },
    "sht4x": {
        "on": (0.32, "Sensirion SHT4x datasheet, electrical specifications: measuring, typ. 320 uA"),
        "sleep": (0.00008, "Sensirion SHT4x datasheet, electrical specifications: idle, typ. 0.08 uA"),
    },
    "bme280": {
        "on": (0.714, "Bosch BME280 datasheet, table 1: current during pressure measurement, the highest of T/P/H"),
        "sleep": (0.0001, "Bosch BME280 datasheet, table 1: sleep current typ. 0.1 uA"),
    },
    "pulse_counter": {"on": (0.0, "a GPIO input: no supply of its own"), "sleep": (0.0, "a GPIO input")},
    "beam_counter": {"on": (0.0, "GPIO inputs: the beams have their own supply"), "sleep": (0.0, "GPIO inputs")},
    # dnms and pcb_db have no published supply current: the planner asks for --current PART.on=MA.
}

# How long a sensor stays on per sample when it has no warm-up (single-shot T/RH/P measurements),
# seconds: the high-repeatability measurement times of the SHT3x (15 ms) and BME280 (up to ~10 ms)
# rounded up.
SINGLE_SHOT_S = 0.02

# Sensors that listen all the time (noise): on for the whole interval.
CONTINUOUS = frozenset({"dnms", "pcb_db", "pulse_counter", "beam_counter"})


def current(part: str, state: str, overrides: dict[str, float]) -> tuple[float, str] | None:
    """(mA, source) of a part's state, an override first; None when nothing is known."""
    key = "%s.%s" % (part, state)
    if key in overrides:
        return overrides[key], "given on the command line"
    return PARTS.get(part, {}).get(state)
