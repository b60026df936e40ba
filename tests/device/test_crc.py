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


def _bitwise(data, width, poly, crc):
    # the CRC's definition, one bit at a time (MSB first, no reflection): the tables must agree with it
    top, mask = 1 << (width - 1), (1 << width) - 1
    for b in data:
        crc ^= b << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
    return crc


def test_tables_agree_with_the_bitwise_definition():
    for i in range(256):
        assert crc8_sensirion(bytes((i,))) == _bitwise(bytes((i,)), 8, 0x31, 0xFF)
        assert crc16_ccitt(bytes((i,))) == _bitwise(bytes((i,)), 16, 0x1021, 0xFFFF)
    seed = 1
    data = bytearray(300)
    for i in range(len(data)):  # a fixed pseudo-random message (no random module on every port)
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        data[i] = (seed >> 16) & 0xFF
    assert crc8_sensirion(data) == _bitwise(data, 8, 0x31, 0xFF)
    assert crc8_sensirion(data, 7, 9, 0) == _bitwise(data[7:9], 8, 0x31, 0)
    assert crc16_ccitt(data) == _bitwise(data, 16, 0x1021, 0xFFFF)


def test_crc8_word_vectors():
    # SHT3x datasheet §4.12: CRC(0xBEEF) = 0x92; a zero word gives 0x81 (DNMS and SPS30 answers)
    assert crc8_sensirion(b"\xbe\xef") == 0x92 and crc8_sensirion(b"\x00\x00") == 0x81
    assert crc8_sensirion(b"") == 0xFF
