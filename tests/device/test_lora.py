from edge import lora
from tests.device.mptest import raises


def test_time_on_air_semtech_vector():
    assert lora.time_on_air_us(13, 9) == 164864  # DESIGN.md: 13 bytes, SF9/125 kHz


def test_low_data_rate_optimisation_at_sf11_and_sf12():
    # SF12/125 kHz, 64 bytes: Tsym 32.768 ms, DE = 1 -> 73 payload symbols + 12.25 -> 2793.472 ms
    assert lora.time_on_air_us(64, 12) == 2793472
    assert lora.time_on_air_us(13, 7, 250000) * 2 == lora.time_on_air_us(13, 7, 125000)


def test_eu868_tables():
    assert lora.eu868_dr(0) == (12, 125000, 51)
    assert lora.eu868_dr(3) == (9, 125000, 115)
    assert lora.eu868_dr(5) == (7, 125000, 222)
    assert lora.EU868_SUBBANDS[lora.eu868_subband(868100000)][2] == 10
    assert lora.EU868_SUBBANDS[lora.eu868_subband(869525000)][2] == 100


def test_bad_radio_parameters_raise():
    for args in ((13, 5), (13, 13), (300, 7), (13, 7, 200000)):
        with raises(lora.RadioError):
            lora.time_on_air_us(*args)
    with raises(lora.RadioError):
        lora.eu868_dr(7)
    with raises(lora.RadioError):
        lora.eu868_subband(915000000)
