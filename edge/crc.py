# CRC helpers, written once for drivers and the datalog.
from micropython import const

_SENSIRION_POLY = const(0x31)  # x^8 + x^5 + x^4 + 1, Sensirion SHT3x/SHT4x/SPS30 datasheets
_CCITT_POLY = const(0x1021)  # CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection


def crc8_sensirion(data, start=0, end=None, init=0xFF):
    """Sensirion CRC-8 over data[start:end]; crc8_sensirion(b'\\xbe\\xef') == 0x92."""
    if end is None:
        end = len(data)
    crc = init
    for i in range(start, end):
        crc ^= data[i]
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ _SENSIRION_POLY) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc


def crc16_ccitt(data, start=0, end=None, crc=0xFFFF):
    """CRC-16/CCITT-FALSE over data[start:end]; check value of b'123456789' is 0x29B1."""
    if end is None:
        end = len(data)
    for i in range(start, end):
        crc ^= data[i] << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ _CCITT_POLY) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc
