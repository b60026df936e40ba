# Compact node payload, version 1: the bytes a node sends in one LoRaWAN FRMPayload and keeps,
# record by record, in its datalog. Byte layout and test vectors: docs/payload.md.
#
#   header  1 byte   bits 7-5 version (1), bit 4 REL, bits 3-0 number of readings - 1 (1..16)
#   REL=1   seq0 low 16 bits (u16 LE), age0 = ref.t - t0 (varint)   ... ref known to both ends
#   REL=0   seq0 (varint), t0 unix seconds (u32 LE)
#   n > 1   period = t1 - t0 (zigzag varint), the expected step between readings
#   reading 0: presence bitmap, values
#   reading i > 0: link byte, [seq step], [time step], [presence bitmap], values
#     link bit 0 SAME_SET  same quantities as the previous reading: bitmap omitted
#     link bit 1 NEXT_SEQ  seq = previous + 1; else zigzag varint (seq - previous - 1) follows
#     link bit 2 ON_PERIOD t = previous + period; else zigzag varint (t - previous - period) follows
#   presence bitmap: 7 bits a byte (wire index 0..6 in the first byte), bit 7 = another byte follows;
#                    at most 4 bytes
#   values: one per present quantity in wire-index order, widths and steps from edge.vocab
import struct

from micropython import const

from edge import vocab

VERSION = const(1)
MAX_READINGS = const(16)
_REL = const(0x10)
_SAME_SET = const(0x01)
_NEXT_SEQ = const(0x02)
_ON_PERIOD = const(0x04)
_LINK_BITS = const(0x07)
_MAX_BITMAP_BYTES = const(4)  # 28 wire indexes; 21 used: a newer node's are UnknownQuantity
_SEQ_WINDOW = const(32768)  # REL frames carry seq mod 2^16: decodable within +-2^15 of ref.seq
_U32 = const(0xFFFFFFFF)
ROUNDING_BAND = 0.515625  # 1/2 + 1/64: x within 1/64 below a half-way point rounds away from zero

_RAW_LIMITS = {"B": (0, 0xFF), "H": (0, 0xFFFF), "h": (-0x8000, 0x7FFF), "i": (-0x7FFFFFFF, 0x7FFFFFFF)}
_KNOWN_MASK = 0
for _q in vocab.QUANTITIES:
    _KNOWN_MASK |= 1 << _q[2]
del _q
_MAX_LAYOUTS = const(32)  # presence bitmaps whose value layout is kept (decode)
_LAYOUTS = {}


class PayloadError(ValueError):
    """Base of every payload codec error."""


class UnsupportedVersion(PayloadError):
    pass


class FrameTruncated(PayloadError):
    pass


class FrameCorrupt(PayloadError):
    pass


class UnknownQuantity(PayloadError):
    pass


class ValueOutOfRange(PayloadError):
    pass


class RefError(PayloadError):
    """The frame needs a ref, or seq/t is too far from the ref to be sent relative to it."""


# ---- encoding -----------------------------------------------------------------------------------
# The encoder writes into one buffer with struct.pack_into: on a board every temporary bytes object
# or boxed float is heap, so each value costs two float operations (two boxes) and nothing else.

# Largest frame: header 1 + seq 5 + time 4 + period 5, then 16 readings of at most
# link 1 + seq step 5 + time step 5 + bitmap 3 (indexes 0..20)
# + values 46 (16 x 16-bit + 2 x u8 + 3 x 32-bit) = 60 bytes.
MAX_FRAME_BYTES = const(975)

_FORMATS = {"B": "<B", "H": "<H", "h": "<h", "i": "<i"}
# In wire order: (name, presence bit, struct format, width, num, den, lo, hi, raw lo, raw hi)
_ENC = tuple(
    (q[0], 1 << q[2], _FORMATS[q[3]], struct.calcsize(q[3]), q[4], q[5], q[6], q[7]) + _RAW_LIMITS[q[3]]
    for q in vocab.QUANTITIES
)


class FrameTooLarge(PayloadError):
    """The frame does not fit the buffer given to encode_into()."""


def _room(buf, pos, n):
    if pos + n > len(buf):
        raise FrameTooLarge("frame needs more than the %d-byte buffer" % len(buf))


def _put_varint(buf, pos, n):
    if n < 0 or n > _U32:
        raise PayloadError("varint out of 0..2^32-1: %d" % n)
    while n >= 0x80:
        _room(buf, pos, 1)
        buf[pos] = (n & 0x7F) | 0x80
        pos += 1
        n >>= 7
    _room(buf, pos, 1)
    buf[pos] = n
    return pos + 1


def _zigzag(n):
    return (n << 1) if n >= 0 else ((-n << 1) - 1)


def _check_meta(seq, t):
    if seq is None or t is None:
        raise PayloadError("reading lacks %s" % ("seq" if seq is None else "t"))
    if not isinstance(seq, int) or not isinstance(t, int) or seq < 0 or t < 0 or seq > _U32 or t > _U32:
        raise PayloadError("seq and t must be integers in 0..2^32-1")


def _mask(r):
    mask = 0
    for key in r:
        if key in vocab.META_KEYS or r[key] is None:
            continue
        q = vocab.BY_NAME.get(key)
        if q is None:
            raise UnknownQuantity("unknown quantity %r" % key)
        mask |= 1 << q[2]
    return mask


def _put_bitmap(buf, pos, mask):
    while True:
        byte = mask & 0x7F
        mask >>= 7
        _room(buf, pos, 1)
        if not mask:
            buf[pos] = byte
            return pos + 1
        buf[pos] = byte | 0x80
        pos += 1


def to_steps(v, num, den):
    """v in steps of num/den by the rule of docs/payload.md "Rounding": x = v * den / num,
    raw = floor(|x| + 33/64) with the sign of x. Adding 33/64 is exact (a 6-bit binary fraction;
    |x| < 2^17 in float32, 2^46 in double), so the product is the one rounded operation; the 1/64
    band absorbs its error and a float32 board's, and a decimal half-way value (0.15, -40.925)
    rounds away from zero everywhere."""
    x = v * den if num == 1 else v * den / num
    return int(x + ROUNDING_BAND) if x >= 0 else -int(ROUNDING_BAND - x)


def _to_raw(e, value):
    name, _, _, _, num, den, lo, hi, rlo, rhi = e
    v = value
    # Two isinstance calls: a tuple of types is built (heap) at every call on MicroPython.
    if not isinstance(v, float) and (not isinstance(v, int) or isinstance(v, bool)):
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueOutOfRange("%s is not a number: %r" % (name, value)) from None
    if not (lo <= v <= hi):  # also rejects NaN
        raise ValueOutOfRange("%s = %r outside %r..%r" % (name, value, lo, hi))
    raw = to_steps(v, num, den)
    if raw < rlo or raw > rhi:
        raise ValueOutOfRange("%s = %r does not fit the wire field" % (name, value))
    return raw


def _put_values(buf, pos, r, mask):
    for e in _ENC:
        if mask & e[1]:
            _room(buf, pos, e[3])
            struct.pack_into(e[2], buf, pos, _to_raw(e, r[e[0]]))
            pos += e[3]
    return pos


def _encode(buf, readings, n, ref, ends):
    """Write the first n readings into buf; returns (length, bytes of the period field).

    ends, when given, is a list of at least n slots: ends[i] = length after reading i.
    Kept as one function on purpose (a device hot path): the node runs it for every frame it
    packs, where a MicroPython call is costly, and its steps share the buffer, position and period.
    """
    if n < 1 or n > MAX_READINGS:
        raise PayloadError("a frame holds 1..%d readings, not %d" % (MAX_READINGS, n))
    r0 = readings[0]
    seq0 = r0.get("seq")
    t0 = r0.get("t")
    _check_meta(seq0, t0)
    _room(buf, 0, 1)
    if ref is not None:
        rseq, rt = _ref(ref)
        d = seq0 - rseq
        if d < -_SEQ_WINDOW or d >= _SEQ_WINDOW:
            raise RefError("seq %d is more than 2^15 from ref seq %d" % (seq0, rseq))
        if t0 > rt:
            raise RefError("reading time %d is after ref time %d" % (t0, rt))
        buf[0] = (VERSION << 5) | _REL | (n - 1)
        _room(buf, 1, 2)
        struct.pack_into("<H", buf, 1, seq0 & 0xFFFF)
        pos = _put_varint(buf, 3, rt - t0)
    else:
        buf[0] = (VERSION << 5) | (n - 1)
        pos = _put_varint(buf, 1, seq0)
        _room(buf, pos, 4)
        struct.pack_into("<I", buf, pos, t0)
        pos += 4
    period = 0
    period_bytes = 0
    if n > 1:
        t1 = readings[1].get("t")
        _check_meta(readings[1].get("seq"), t1)
        period = t1 - t0
        start = pos
        pos = _put_varint(buf, pos, _zigzag(period))
        period_bytes = pos - start
    prev_seq, prev_t, prev_mask = seq0, t0, -1
    for i in range(n):
        r = readings[i]
        seq = r.get("seq")
        t = r.get("t")
        _check_meta(seq, t)
        mask = _mask(r)
        if i > 0:
            dseq = seq - prev_seq - 1
            dt = t - prev_t - period
            link = (_SAME_SET if mask == prev_mask else 0) | (_NEXT_SEQ if dseq == 0 else 0)
            link |= _ON_PERIOD if dt == 0 else 0
            _room(buf, pos, 1)
            buf[pos] = link
            pos += 1
            if dseq:
                pos = _put_varint(buf, pos, _zigzag(dseq))
            if dt:
                pos = _put_varint(buf, pos, _zigzag(dt))
        if mask != prev_mask:
            pos = _put_bitmap(buf, pos, mask)
        pos = _put_values(buf, pos, r, mask)
        if ends is not None:
            ends[i] = pos
        prev_seq, prev_t, prev_mask = seq, t, mask
    return pos, period_bytes


def encode_into(buf, readings, ref=None, count=None):
    """Encode readings (the first count of them) into a preallocated bytearray; returns the length.

    MAX_FRAME_BYTES always suffices. What a node should call: only boxed float products are
    allocated. FrameTooLarge when buf is too small.
    """
    if isinstance(readings, dict):
        readings = [readings]
    return _encode(buf, readings, len(readings) if count is None else count, ref, None)[0]


def encode(readings, ref=None):
    """Encode one reading dict or a list of 1..16 of them into a version-1 frame (bytes).

    With ref = {"t": unix seconds, "seq": int} the first reading's seq travels as its low 16 bits
    and its time as an age before ref["t"]; decode() with the same ref restores both exactly.
    """
    buf = bytearray(MAX_FRAME_BYTES)
    n = encode_into(buf, readings, ref)
    return bytes(memoryview(buf)[:n])


def max_readings_in(readings, limit_bytes, ref=None, buf=None, ends=None):
    """How many of readings (from the first) fit in one frame of at most limit_bytes.

    One pass: the frame of the first k readings is the k-reading prefix of the frame of all of
    them (its count nibble aside), less the period field when k is 1. buf (MAX_FRAME_BYTES) and
    ends (MAX_READINGS slots) may be passed in to allocate nothing.
    """
    n = min(len(readings), MAX_READINGS)
    if n == 0:
        return 0
    if buf is None:
        buf = bytearray(MAX_FRAME_BYTES)
    if ends is None:
        ends = [0] * MAX_READINGS
    period_bytes = _encode(buf, readings, n, ref, ends)[1]
    if ends[0] - period_bytes > limit_bytes:
        return 0
    best = 1
    while best < n and ends[best] <= limit_bytes:
        best += 1
    return best


def _ref(ref):
    try:
        rseq = ref["seq"]
        rt = ref["t"]
    except (KeyError, TypeError):
        raise RefError("ref must be a dict with 'seq' and 't'") from None
    if not isinstance(rseq, int) or not isinstance(rt, int) or rseq < 0 or rt < 0 or rseq > _U32 or rt > _U32:
        raise RefError("ref seq and t must be integers in 0..2^32-1")
    return rseq, rt


# ---- decoding -----------------------------------------------------------------------------------


def _byte(data, pos):
    if pos >= len(data):
        raise FrameTruncated("frame ends at byte %d" % pos)
    return data[pos], pos + 1


def _varint(data, pos):
    n = 0
    shift = 0
    while True:
        b, pos = _byte(data, pos)
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            if n > _U32:
                raise FrameCorrupt("varint over 32 bits")
            return n, pos
        shift += 7
        if shift > 28:
            raise FrameCorrupt("varint longer than 5 bytes")


def _zvarint(data, pos):
    n, pos = _varint(data, pos)
    return ((n >> 1) ^ -(n & 1)), pos


def _fixed(data, pos, code):
    end = pos + struct.calcsize(code)
    if end > len(data):
        raise FrameTruncated("frame ends inside a field at byte %d" % pos)
    return struct.unpack_from("<" + code, data, pos)[0], end


def _bitmap(data, pos):
    mask = 0
    for k in range(_MAX_BITMAP_BYTES):
        b, pos = _byte(data, pos)
        mask |= (b & 0x7F) << (7 * k)
        if not b & 0x80:
            return mask, pos
    raise FrameCorrupt("presence bitmap longer than %d bytes" % _MAX_BITMAP_BYTES)


def _layout(mask):
    """(struct format, size, quantities) of the values a presence bitmap announces; a fleet sends
    a few bitmaps, so each is worked out once (at most _MAX_LAYOUTS kept)."""
    lay = _LAYOUTS.get(mask)
    if lay is None:
        if mask & ~_KNOWN_MASK:
            raise UnknownQuantity("frame holds quantities this decoder does not know (bitmap 0x%x)" % mask)
        qs = tuple(q for q in vocab.QUANTITIES if mask & (1 << q[2]))
        fmt = "<" + "".join(q[3] for q in qs)
        lay = (fmt, struct.calcsize(fmt), qs)
        if len(_LAYOUTS) >= _MAX_LAYOUTS:
            _LAYOUTS.clear()
        _LAYOUTS[mask] = lay
    return lay


def _scaled(q, raw):
    value = raw * q[4] / q[5]
    if not (q[6] <= value <= q[7]):
        raise FrameCorrupt("%s = %r outside %r..%r" % (q[0], value, q[6], q[7]))
    return value


def _values(data, pos, mask, reading):
    fmt, size, qs = _layout(mask)
    if pos + size > len(data):  # truncated: field by field, so the error is the one it always was
        for q in qs:
            raw, pos = _fixed(data, pos, q[3])  # raises at the field the frame ends in
            _scaled(q, raw)
    raws = struct.unpack_from(fmt, data, pos)
    for i in range(len(qs)):
        q = qs[i]
        reading[q[0]] = _scaled(q, raws[i])
    return pos + size


def is_relative(data):
    """True when the frame's seq and time travel relative to a ref (REL): decoding it again later,
    with a later ref, would give other times."""
    return len(data) > 0 and bool(data[0] & _REL)


def _first(data, header, ref):
    """The first reading's seq and time, and the position after them."""
    if not header & _REL:
        seq, pos = _varint(data, 1)
        t, pos = _fixed(data, pos, "I")
        return seq, t, pos
    if ref is None:
        raise RefError("frame is relative to a ref (uplink time and last seq): pass ref")
    rseq, rt = _ref(ref)
    low, pos = _fixed(data, 1, "H")
    age, pos = _varint(data, pos)
    # the seq with these low 16 bits in [w, w + 2^16), w = max(0, ref.seq - 2^15)
    seq = rseq + ((low - rseq + _SEQ_WINDOW) & 0xFFFF) - _SEQ_WINDOW
    if seq < 0:
        seq += 0x10000
    if seq > _U32:
        raise FrameCorrupt("seq %d of the first reading is over 2^32-1" % seq)
    t = rt - age
    if t < 0:
        raise FrameCorrupt("age %d is before the epoch" % age)
    return seq, t, pos


def decode(data, ref=None):
    """Decode a version-1 frame into a list of reading dicts {"seq", "t", quantity: float, ...}."""
    if len(data) < 1:
        raise FrameTruncated("empty frame")
    header = data[0]
    version = header >> 5
    if version != VERSION:
        raise UnsupportedVersion("payload version %d (this decoder reads %d)" % (version, VERSION))
    count = (header & 0x0F) + 1
    seq, t, pos = _first(data, header, ref)
    period = 0
    if count > 1:
        period, pos = _zvarint(data, pos)
    readings = []
    mask = 0
    for i in range(count):
        if i > 0:
            link, pos = _byte(data, pos)
            if link & ~_LINK_BITS:
                raise FrameCorrupt("reserved link bits set: 0x%02x" % link)
            step = 1
            if not link & _NEXT_SEQ:
                d, pos = _zvarint(data, pos)
                step += d
            dt = period
            if not link & _ON_PERIOD:
                d, pos = _zvarint(data, pos)
                dt += d
            seq += step
            t += dt
            if seq < 0 or seq > _U32 or t < 0 or t > _U32:
                raise FrameCorrupt("reading %d has seq or time out of range" % i)
            if not link & _SAME_SET:
                mask, pos = _bitmap(data, pos)
        else:
            mask, pos = _bitmap(data, pos)
        reading = {"seq": seq, "t": t}
        pos = _values(data, pos, mask, reading)
        readings.append(reading)
    if pos != len(data):
        raise FrameCorrupt("%d bytes after the last reading" % (len(data) - pos))
    return readings
