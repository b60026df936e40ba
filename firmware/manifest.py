# Device manifest: exactly the modules that go on a board, in the spirit of MicroPython's manifest.py.
# Paths are relative to the repository root. Host tools read this file (`edge flash`, the tests);
# it is not copied to a board itself. Host-only code (firmware/host/) is never listed.
from drivers import registry

CORE = (
    "edge/__init__.py",
    "edge/vocab.py",
    "edge/crc.py",
    "edge/payload.py",
    "edge/lora.py",
    "edge/downlink.py",
    "edge/clock.py",
)

# One module per sensor chip, as the chip registry names them; a board carries the drivers of
# every sensor it may have attached, and the registry itself (firmware.config reads it).
DRIVERS = ("drivers/__init__.py", "drivers/registry.py") + tuple(
    m.replace(".", "/") + ".py" for m in registry.modules()
)

# The node application.
FIRMWARE = (
    "firmware/__init__.py",
    "firmware/datalog.py",
    "firmware/config.py",
    "firmware/aggregate.py",
    "firmware/derived.py",
    "firmware/events.py",
    "firmware/sensors.py",
    "firmware/uplink.py",
    "firmware/modem.py",
    "firmware/app.py",
    "firmware/board.py",
    "firmware/main.py",
)

# Board name -> modules. Board definitions (pins, buses) live in hw/.
BOARDS = {
    "esp32-devkitc": CORE + DRIVERS + FIRMWARE,
    "pico-w": CORE + DRIVERS + FIRMWARE,
}


def modules(board):
    """The module paths of a board's bundle; KeyError names an unknown board."""
    return BOARDS[board]
