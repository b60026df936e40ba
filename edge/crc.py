# CRC helpers, written once for drivers and the datalog. Both are table-driven: one lookup per byte
# instead of eight shift-and-xor steps; the tables are built once, at import.
from micropython import const

_SENSIRION_POLY = const(0x31)  # x^8 + x^5 + x^4 + 1, Sensirion SHT3x/SHT4x/SPS30 datasheets
_CCITT_POLY = const(0x1021)  # CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection


def _table8(poly):
    # entry i: the CRC register after shifting byte i through it from 0 (MSB first, no reflection)
    t = bytearray(256)
    for i in range(256):
        c = i
        for _ in range(8):
            c = ((c << 1) ^ poly) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        t[i] = c
    return bytes(t)


def _table16(poly):
    # as _table8 for a 16-bit register: entry i is byte i shifted through the top of it
    from array import array

    t = array("H", bytes(512))
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ poly) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
        t[i] = c
    return t


CRC8_SENSIRION_TABLE = _table8(_SENSIRION_POLY)
_CRC16_TABLE = _table16(_CCITT_POLY)


def crc8_sensirion(data, start=0, end=None, init=0xFF):
    """Sensirion CRC-8 over data[start:end]; crc8_sensirion(b'\\xbe\\xef') == 0x92."""
    if end is None:
        end = len(data)
    t = CRC8_SENSIRION_TABLE
    crc = init
    for i in range(start, end):
        crc = t[crc ^ data[i]]
    return crc


def crc16_ccitt(data, start=0, end=None, crc=0xFFFF):
    """CRC-16/CCITT-FALSE over data[start:end]; check value of b'123456789' is 0x29B1."""
    if end is None:
        end = len(data)
    t = _CRC16_TABLE
    for i in range(start, end):
        crc = ((crc << 8) & 0xFFFF) ^ t[(crc >> 8) ^ data[i]]
    return crc
