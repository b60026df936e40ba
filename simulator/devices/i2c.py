# An in-memory I2C bus with the machine.I2C subset drivers use. Emulators attach at addresses.
# Not modelled: clock stretching, bus speed, arbitration, 10-bit addresses, repeated-start semantics
# (a write then a read is two transactions here, which every chip we emulate accepts).
from micropython import const

_ENODEV = const(19)  # what machine.I2C raises when no device acknowledges its address


class VirtualI2C:
    def __init__(self):
        self._devices = {}
        self._reg = bytearray(1)

    def attach(self, emu, addr=None):
        """Put an emulator on the bus at addr (default emu.ADDRESS); returns the emulator."""
        self._devices[emu.ADDRESS if addr is None else addr] = emu
        return emu

    def detach(self, addr):
        self._devices.pop(addr, None)

    def scan(self):
        return sorted(a for a, d in self._devices.items() if not d.nacks())

    def _device(self, addr):
        dev = self._devices.get(addr)
        if dev is None or dev.nacks():
            raise OSError(_ENODEV)
        return dev

    def writeto(self, addr, buf, stop=True):
        dev = self._devices.get(addr)
        if dev is None or dev.nacks():
            raise OSError(_ENODEV)
        dev.on_write(bytes(buf))
        return len(buf)

    def readfrom(self, addr, n, stop=True):
        dev = self._devices.get(addr)
        if dev is None or dev.nacks():
            raise OSError(_ENODEV)
        data = dev.on_read(n)
        if data is None:  # the chip NACKs its address while busy (SHT3x/SHT4x/SPS30)
            raise OSError(_ENODEV)
        return bytes(data)

    def readfrom_into(self, addr, buf, stop=True):
        dev = self._devices.get(addr)  # readfrom() inline, without its copy: the hot path of every driver
        if dev is None or dev.nacks():
            raise OSError(_ENODEV)
        n = len(buf)
        data = dev.on_read(n)
        if data is None:
            raise OSError(_ENODEV)
        if len(data) == n:
            try:
                buf[:] = data  # one copy (a port without slice assignment takes the loop)
                return
            except (TypeError, NotImplementedError):
                pass
        for i in range(n):
            buf[i] = data[i]

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        self._device(addr).on_write(bytes([reg]) + bytes(buf))

    def readfrom_mem(self, addr, reg, n, addrsize=8):
        self._device(addr).on_write(bytes([reg]))
        return self.readfrom(addr, n)

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        self._device(addr).on_write(bytes([reg]))
        self.readfrom_into(addr, buf)
