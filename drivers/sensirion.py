# Command-style I2C transfers shared by the Sensirion chips (SHT3x, SHT4x, SPS30) and the DNMS,
# which copied Sensirion's framing: the host writes a command (1 or 2 bytes, optionally followed by
# argument words), waits the command's execution time, then reads big-endian 16-bit words, each
# followed by its CRC-8 (poly 0x31, init 0xFF; SHT3x datasheet §4.12, SPS30 datasheet §6.2).
import struct

from drivers.errors import ChecksumError, InvalidValue, bus_error
from edge.clock import SystemClock
from edge.crc import CRC8_SENSIRION_TABLE, crc8_sensirion


class SensirionI2C:
    """One chip on the bus: buffers are allocated here once and reused by every transfer."""

    def __init__(self, i2c, address, max_words, clock=None, name="sensor"):
        self.i2c = i2c
        self.address = address
        self.clock = clock if clock is not None else SystemClock()
        self.name = name
        self.rx = bytearray(3 * max_words)
        rx_mv = memoryview(self.rx)
        self._rx_views = [rx_mv[: 3 * n] for n in range(max_words + 1)]  # one per word count, as _tx_views
        self._tx = bytearray(5)  # 16-bit command + one argument word with its CRC
        tx_mv = memoryview(self._tx)
        self._tx_views = [tx_mv[:n] for n in range(6)]  # one per command length: no slice per write
        self._float = bytearray(4)

    def command(self, cmd, size=2, arg=None, delay_ms=0):
        """Write a command of size bytes (1 or 2), with an optional argument word, then wait."""
        tx = self._tx
        if size == 1:
            tx[0] = cmd
            n = 1
        else:
            tx[0] = cmd >> 8
            tx[1] = cmd & 0xFF
            n = 2
        if arg is not None:
            tx[n] = arg >> 8
            tx[n + 1] = arg & 0xFF
            tx[n + 2] = crc8_sensirion(tx, n, n + 2)
            n += 3
        try:
            self.i2c.writeto(self.address, self._tx_views[n])
        except OSError as e:
            raise bus_error(e, self.name) from None
        if delay_ms:
            self.clock.sleep_ms(delay_ms)

    def read_words(self, n_words):
        """Read n_words words into self.rx and check every CRC; ChecksumError on a mismatch."""
        try:
            self.i2c.readfrom_into(self.address, self._rx_views[n_words])
        except OSError as e:
            raise bus_error(e, self.name) from None
        rx = self.rx
        t = CRC8_SENSIRION_TABLE  # edge.crc's table, inline: two lookups a word
        for i in range(0, 3 * n_words, 3):
            if t[t[0xFF ^ rx[i]] ^ rx[i + 1]] != rx[i + 2]:
                raise ChecksumError("%s: CRC mismatch in word %d" % (self.name, i // 3))

    def word(self, i):
        """Word i of the last read (0-based), unsigned."""
        rx = self.rx
        return (rx[3 * i] << 8) | rx[3 * i + 1]

    def float(self, i):
        """Big-endian IEEE-754 float made of words i and i+1 of the last read."""
        rx = self.rx
        f = self._float
        j = 3 * i
        f[0] = rx[j]
        f[1] = rx[j + 1]
        f[2] = rx[j + 3]
        f[3] = rx[j + 4]
        if f[0] & 0x7F == 0x7F and f[1] & 0x80:  # exponent all ones: NaN or infinity
            raise InvalidValue("%s: word %d is not a finite float" % (self.name, i))
        return struct.unpack(">f", f)[0]
