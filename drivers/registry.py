# The one table of sensor chips: type -> (driver module, driver class, bus kind, quantities).
# Firmware config validation and sensors, the gateway's local sensors, the planner, the device
# manifest and the simulator all read it; adding a chip is one row here plus its driver module
# (drivers/<type>.py or a shared one) and, for the simulator, its emulator
# simulator/devices/<type>.py with class <driver class>Emulator (found by that convention).
# Only names live here, so a board imports this without pulling in any driver.
#
# Bus kinds: "i2c" (machine.I2C subset, optional address), "uart" (machine.UART subset),
# "pin" (one GPIO), "pins" (two GPIOs). Quantities are names of edge/vocab.py.

CHIPS = {
    "sds011": ("drivers.sds011", "SDS011", "uart", ("pm2_5", "pm10")),
    "pms5003": ("drivers.pms5003", "PMS5003", "uart", ("pm1", "pm2_5", "pm10")),
    "sps30": ("drivers.sps30", "SPS30", "i2c", ("pm1", "pm2_5", "pm4", "pm10")),
    "sht3x": ("drivers.sht3x", "SHT3x", "i2c", ("temperature", "humidity")),
    "sht4x": ("drivers.sht4x", "SHT4x", "i2c", ("temperature", "humidity")),
    "bme280": ("drivers.bme280", "BME280", "i2c", ("temperature", "humidity", "pressure")),
    "dnms": ("drivers.dnms", "DNMS", "i2c", ("laeq", "lamin", "lamax")),
    "pcb_db": ("drivers.pcb_db", "DecibelMeter", "i2c", ("laeq", "lamin", "lamax")),
    "pulse_counter": ("drivers.counter", "PulseCounter", "pin", ("count_in",)),
    "beam_counter": ("drivers.counter", "BeamCounter", "pins", ("count_in", "count_out")),
    "a02yyuw": ("drivers.a02yyuw", "A02YYUW", "uart", ("distance",)),
    "maxbotix": ("drivers.maxbotix", "MaxBotix", "uart", ("distance",)),
    "vl53l1x": ("drivers.vl53l1x", "VL53L1X", "i2c", ("distance",)),
    "veml7700": ("drivers.veml7700", "VEML7700", "i2c", ("illuminance",)),
    "bh1750": ("drivers.bh1750", "BH1750", "i2c", ("illuminance",)),
    "gnss": ("drivers.gnss", "GNSS", "uart", ("latitude", "longitude")),
}

# Modules every driver may share (errors, transfers, timing); on a board with any sensor.
SHARED = ("drivers.errors", "drivers.sensirion", "drivers.warmup", "drivers.uart_frames", "drivers.ranging")


def bus(chip):
    return CHIPS[chip][2]


def quantities(chip):
    return CHIPS[chip][3]


def driver_class(chip):
    """The driver class of a chip, imported now (ImportError/AttributeError when it is missing)."""
    module, cls = CHIPS[chip][0], CHIPS[chip][1]
    return getattr(__import__(module, None, None, [cls]), cls)


def modules():
    """Every module the registry names, shared ones first, each once, in table order."""
    out = list(SHARED)
    for chip in CHIPS:
        if CHIPS[chip][0] not in out:
            out.append(CHIPS[chip][0])
    return out
