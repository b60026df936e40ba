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


def test_datr_strings_parse_only_when_exact():
    assert lora.parse_datr("SF9BW125") == (9, 125000)
    assert lora.parse_datr("SF12BW500") == (12, 500000)
    assert lora.parse_datr("SF5BW250") == (5, 250000)  # SX1302 adds SF5 and SF6
    for bad in ("SF7BW1w5", "SF13BW125", "SF07BW125", "SF9BW125 ", "SFBW125", "SF9", "BW125", "", 9, None):
        with raises(lora.RadioError):
            lora.parse_datr(bad)
    assert lora.format_datr(9, 125000) == "SF9BW125"


def test_eu868_data_rate_index_and_payload_of_a_datr():
    assert lora.eu868_dr_of(12) == 0 and lora.eu868_dr_of(7) == 5 and lora.eu868_dr_of(7, 250000) == 6
    with raises(lora.RadioError):
        lora.eu868_dr_of(9, 500000)
    assert lora.eu868_max_payload("SF9BW125") == 115
    assert lora.eu868_max_payload("SF10BW125") == 51
    with raises(lora.RadioError):
        lora.eu868_max_payload("SF5BW125")
