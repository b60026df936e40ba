# Downlink commands from the gateway to a node, sent on LoRaWAN FPort 2 (docs/downlink.md).
# A downlink carries one or more commands back to back: opcode byte, then fixed-size arguments
# (little-endian). Node readings travel up on FPort 1 (edge.payload).
import struct

from micropython import const

FPORT_DATA = const(1)
FPORT_COMMAND = const(2)

ACK = const(0x01)  # u32 seq: the gateway has stored every reading up to seq
RESEND = const(0x02)  # u32 first seq, u16 count: resend these readings from the datalog
SET_INTERVAL = const(0x03)  # u16 seconds between measurements
TIME_SYNC = const(0x04)  # u32 unix seconds at the gateway when it queued the downlink
REBOOT = const(0x05)  # u8 REBOOT_MAGIC, so one flipped opcode cannot reboot a node

REBOOT_MAGIC = const(0xB0)
MIN_INTERVAL_S = const(10)
MAX_RESEND = const(4096)

# opcode -> (name, struct format of the arguments)
COMMANDS = {
    ACK: ("ack", "<I"),
    RESEND: ("resend", "<IH"),
    SET_INTERVAL: ("set_interval", "<H"),
    TIME_SYNC: ("time_sync", "<I"),
    REBOOT: ("reboot", "<B"),
}
_OPCODES = {}
for _op in COMMANDS:
    _OPCODES[COMMANDS[_op][0]] = _op
del _op


class DownlinkError(ValueError):
    """A malformed command downlink; the node ignores it and counts it."""


class UnknownCommand(DownlinkError):
    pass


_LIMITS = {"I": 0xFFFFFFFF, "H": 0xFFFF, "B": 0xFF}


def _check(name, fmt, args):
    # MicroPython's struct.pack wraps out-of-range integers silently: check them here.
    codes = fmt[1:]
    if len(args) != len(codes):
        raise DownlinkError("%s takes %d arguments" % (name, len(codes)))
    for code, value in zip(codes, args):
        if not isinstance(value, int) or value < 0 or value > _LIMITS[code]:
            raise DownlinkError("%s argument %r out of range" % (name, value))
    if name == "resend" and not (1 <= args[1] <= MAX_RESEND):
        raise DownlinkError("resend count must be 1..%d" % MAX_RESEND)
    if name == "set_interval" and args[0] < MIN_INTERVAL_S:
        raise DownlinkError("interval below %d s" % MIN_INTERVAL_S)
    if name == "reboot" and args[0] != REBOOT_MAGIC:
        raise DownlinkError("reboot without its confirmation byte")


def encode(commands):
    """Encode [(name, *args), ...], e.g. [("ack", 120), ("resend", 90, 5)], into a downlink payload."""
    out = bytearray()
    for cmd in commands:
        name = cmd[0]
        op = _OPCODES.get(name)
        if op is None:
            raise UnknownCommand("unknown command %r" % name)
        args = tuple(cmd[1:])
        if name == "reboot" and not args:
            args = (REBOOT_MAGIC,)
        fmt = COMMANDS[op][1]
        _check(name, fmt, args)
        out.append(op)
        out.extend(struct.pack(fmt, *args))
    return bytes(out)


def decode(data):
    """Decode a downlink payload into [(name, *args), ...]; raises DownlinkError on any fault."""
    commands = []
    pos = 0
    while pos < len(data):
        op = data[pos]
        spec = COMMANDS.get(op)
        if spec is None:
            raise UnknownCommand("unknown opcode 0x%02x at byte %d" % (op, pos))
        name, fmt = spec
        end = pos + 1 + struct.calcsize(fmt)
        if end > len(data):
            raise DownlinkError("%s truncated at byte %d" % (name, pos))
        args = struct.unpack_from(fmt, data, pos + 1)
        _check(name, fmt, args)
        if name == "reboot":
            args = ()
        commands.append((name,) + tuple(args))
        pos = end
    if not commands:
        raise DownlinkError("empty command downlink")
    return commands
