"""32-bit frame counter inference from the 16 bits on air (the rule ChirpStack uses)."""

_MASK16 = 0xFFFF
_MASK32 = 0xFFFFFFFF


def infer_fcnt32(next_expected: int, fcnt16: int) -> int:
    """Full 32-bit counter of a frame whose low 16 bits are fcnt16.

    next_expected is the full counter the device should use next (last accepted + 1, 0 for a new
    session). If fcnt16 equals the low bits of next_expected - 1, the frame is a retransmission of
    the last one and gets that counter; otherwise the counter moves forward by the 16-bit distance
    (fcnt16 - next_expected) mod 2^16. Arithmetic wraps at 2^32.
    """
    low = next_expected & _MASK16
    if fcnt16 == (low - 1) & _MASK16:
        return (next_expected - 1) & _MASK32
    return (next_expected + ((fcnt16 - low) & _MASK16)) & _MASK32
