from edge.crc import crc8_sensirion, crc16_ccitt


def test_sensirion_crc8_datasheet_example():
    assert crc8_sensirion(b"\xbe\xef") == 0x92  # SHT3x/SHT4x/SPS30 datasheets


def test_sensirion_crc8_on_a_slice():
    frame = b"\x00\xbe\xef\x92"
    assert crc8_sensirion(frame, 1, 3) == frame[3]


def test_crc16_ccitt_false_check_value():
    assert crc16_ccitt(b"123456789") == 0x29B1


def test_crc16_chains_over_pieces():
    assert crc16_ccitt(b"56789", crc=crc16_ccitt(b"1234")) == 0x29B1
