# What every chip emulator shares: settable physical values, fault modes, a clock, a short log of
# the commands received. See docs/drivers.md for the API; chips subclass Emulator.
from edge.clock import SystemClock
from edge.crc import CRC8_SENSIRION_TABLE

_LOG_LEN = 32  # at least this many of the last commands kept in .commands, at most twice as many
# (bounded: the simulator runs emulators for days; trimmed in bulk, not one pop per command)


class Emulator:
    QUANTITIES = {}  # name -> (lo, hi, resolution) of the chip, in vocabulary units
    FAULTS = ("checksum", "nack", "stuck")

    def __init__(self, clock=None):
        self.clock = clock if clock is not None else SystemClock()
        self.values = {}
        for name, q in self.QUANTITIES.items():
            self.values[name] = q[0]
        self.fault_mode = None
        self.asleep = False
        self.commands = []

    def set(self, **values):
        """Set physical values (vocabulary names and units), clipped to the chip's range."""
        for name, v in values.items():
            lo, hi, _ = self.QUANTITIES[name]
            if self.fault_mode == "stuck":
                continue
            self.values[name] = min(max(float(v), lo), hi)

    def fault(self, mode):
        """Switch to a fault mode of FAULTS, or None for a healthy chip."""
        if mode is not None and mode not in self.FAULTS:
            raise ValueError("%s has no fault mode %r" % (type(self).__name__, mode))
        self.fault_mode = mode
        if mode == "asleep":
            self.go_to_sleep()

    def go_to_sleep(self):
        self.asleep = True

    def wake_up(self):
        self.asleep = False
        if self.fault_mode == "asleep":
            self.fault_mode = None

    def log(self, code):
        cmds = self.commands
        cmds.append(code)
        if len(cmds) > 2 * _LOG_LEN:
            del cmds[:-_LOG_LEN]

    def now(self):
        return self.clock.ticks_ms()

    def since(self, t):
        clock = self.clock
        return clock.ticks_diff(clock.ticks_ms(), t)


class I2CEmulator(Emulator):
    """An emulator on a VirtualI2C: on_write(data) per write transaction, on_read(n) per read.

    on_read returns the bytes, or None to NACK (a busy chip); nacks() True makes the whole
    address disappear from the bus (OSError ENODEV on every transfer).
    """

    ADDRESS = 0

    def nacks(self):
        return self.fault_mode == "nack"

    def on_write(self, data):
        raise NotImplementedError

    def on_read(self, n):
        raise NotImplementedError


def sensirion_words(words, corrupt=False):
    """Bytes of 16-bit words, each followed by its Sensirion CRC-8 (wrong when corrupt).

    The CRC of edge.crc.crc8_sensirion (init 0xFF), by its table inline: a simulated city answers
    millions of these."""
    t = CRC8_SENSIRION_TABLE
    out = bytearray(3 * len(words))
    j = 0
    for w in words:
        hi = (w >> 8) & 0xFF
        lo = w & 0xFF
        crc = t[t[0xFF ^ hi] ^ lo]
        out[j] = hi
        out[j + 1] = lo
        out[j + 2] = crc ^ 0x5A if corrupt else crc
        j += 3
    return bytes(out)


class SensirionEmulator(I2CEmulator):
    """Sensirion's I2C protocol: a command (COMMAND_BYTES long, big-endian, then arguments), then
    an answer of 16-bit words with CRC-8 each, readable once when the chip has computed it.

    Subclasses implement on_command(cmd, data) and call answer() or answer_text() there.
    """

    COMMAND_BYTES = 2

    def __init__(self, clock=None):
        super().__init__(clock)
        self._answer = None
        self._ready_at = 0

    def on_write(self, data):
        if len(data) < self.COMMAND_BYTES:
            return
        cmd = data[0] if self.COMMAND_BYTES == 1 else (data[0] << 8) | data[1]
        self.log(cmd)
        self._answer = None
        self._ready_at = self.clock.ticks_ms()  # the command's time: on_command may read it as now
        self.on_command(cmd, data)

    def on_command(self, cmd, data):
        raise NotImplementedError

    def answer(self, words, delay_ms=0):
        """Queue words (CRC wrong in the "checksum" fault) for the host, readable after delay_ms."""
        self._answer = sensirion_words(words, self.fault_mode == "checksum")
        self._ready_at = self.clock.ticks_add(self.now(), delay_ms)

    def answer_text(self, text, size=32):
        """Queue an ASCII string NUL-padded to size bytes, two characters a word."""
        raw = text.encode() + bytes(size - len(text))
        self.answer([(raw[i] << 8) | raw[i + 1] for i in range(0, size, 2)])

    def on_read(self, n):
        clock = self.clock
        if self._answer is None or clock.ticks_diff(clock.ticks_ms(), self._ready_at) < 0:
            return None  # nothing asked, or still measuring: the chip NACKs
        data = self._answer
        self._answer = None
        return data if len(data) == n else data[:n]  # bytes: the whole answer needs no copy


def clamp_u16(x):
    return min(max(int(x), 0), 0xFFFF)


class UARTEmulator(Emulator):
    """An emulator that is itself the UART: read/readinto/write/any of machine.UART.

    Subclasses implement on_command(data) for bytes the host wrote and catch_up() to queue the
    frames the chip sent since the last call (use send()). RX_FIFO bounds what waits unread, like
    the host's UART receive buffer: older bytes are lost when the host reads too rarely.
    """

    FAULTS = ("checksum", "nack", "stuck", "garbage", "asleep")
    RX_FIFO = 256

    def __init__(self, clock=None):
        super().__init__(clock)
        self._out = bytearray()
        self._seed = 12345

    def noise(self, n):
        """n pseudo-random bytes, with false frame starts among them (deterministic)."""
        out = bytearray()
        for _ in range(n):
            self._seed = (self._seed * 1103515245 + 12345) & 0x7FFFFFFF
            out.append((self._seed >> 16) & 0xFF)
        if n >= 3:
            out[n // 2] = self.GARBAGE_HEAD
        return out

    GARBAGE_HEAD = 0x00

    def send(self, frame):
        """Queue a frame for the host, applying the fault mode."""
        if self.fault_mode == "nack":
            return
        if self.fault_mode == "garbage":
            self._out += self.noise(7)
            self._out += frame[: len(frame) // 2]  # a broken frame...
            self._out += self.noise(5)
        self._out += frame  # ...then the real one
        extra = len(self._out) - self.RX_FIFO
        if extra > 0:
            self._out = self._out[extra:]

    def catch_up(self):
        pass

    def on_command(self, data):
        raise NotImplementedError

    def any(self):
        self.catch_up()
        return len(self._out)

    def read(self, n=None):
        self.catch_up()
        if not self._out:
            return None
        if n is None:
            n = len(self._out)
        data = bytes(self._out[:n])
        self._out = self._out[n:]
        return data

    def readinto(self, buf, n=None):
        if n is None:
            n = len(buf)
        data = self.read(n)
        if data is None:
            return None
        k = len(data)
        if k <= len(buf):
            try:
                buf[:k] = data  # one copy (a port without slice assignment takes the loop)
                return k
            except (TypeError, NotImplementedError):
                pass
        for i in range(k):
            buf[i] = data[i]
        return k

    def write(self, buf):
        self.catch_up()
        data = bytes(buf)
        if self.fault_mode != "nack":
            self.on_command(data)
        return len(data)
