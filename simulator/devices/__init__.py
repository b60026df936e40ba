# Register-level emulators of the chips in drivers/registry.py, found by convention: chip <type>
# with driver class <Class> has its emulator in simulator/devices/<type>.py as <Class>Emulator.
# Chips without such a module (the GPIO counters, driven through simulator/devices/pins.py) have none.
from drivers.registry import CHIPS


def emulator_class(chip):
    """The emulator class of a registered chip, or None when the chip has no emulator module."""
    name = CHIPS[chip][1] + "Emulator"
    try:
        module = __import__("simulator.devices." + chip, None, None, [name])
    except ImportError:
        return None
    return getattr(module, name)


def emulated():
    """The registered chips that have an emulator, in table order."""
    return [chip for chip in CHIPS if emulator_class(chip) is not None]
