# The chip registry (drivers/registry.py) against the code it names: every driver class and every
# emulator found by convention exists, the quantities are vocabulary names the emulator models,
# and the manifest's module list covers every driver.
from drivers import registry
from edge import vocab
from simulator.devices import emulated, emulator_class


def test_every_chip_names_a_driver_class_bus_and_quantities():
    for chip in registry.CHIPS:
        cls = registry.driver_class(chip)
        assert cls.__name__ == registry.CHIPS[chip][1]
        assert registry.bus(chip) in ("i2c", "uart", "pin", "pins")
        for q in registry.quantities(chip):
            assert q in vocab.NAMES, "%s yields unknown quantity %s" % (chip, q)


def test_emulators_are_found_by_convention():
    chips = emulated()
    assert "sds011" in chips and "pcb_db" in chips
    assert "pulse_counter" not in chips and emulator_class("beam_counter") is None
    for chip in chips:
        emu = emulator_class(chip)
        assert emu.__name__ == registry.CHIPS[chip][1] + "Emulator"
        for q in registry.quantities(chip):
            assert q in emu.QUANTITIES, "%s emulator does not model %s" % (chip, q)


def test_module_list_has_every_driver_once():
    mods = registry.modules()
    assert len(mods) == len(set(mods))
    for chip in registry.CHIPS:
        assert registry.CHIPS[chip][0] in mods
    assert mods[0] == "drivers.errors"
