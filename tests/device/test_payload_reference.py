# An encoder and decoder of the node payload written from docs/payload.md alone (its quantity table
# is read from the page; the layout, rounding, seq window and error rules are its text), compared
# byte for byte and error class for error class with edge/payload.py on generated frames: on
# CPython, on the MicroPython VM (fewer frames: the VM is slower) and with float32 inputs.
# Integer arithmetic only, so the reference computes the same on every interpreter.
import struct

from edge import payload
from tests.device.mptest import IS_MICROPYTHON

DOC = "docs/payload.md"
VALUES_CPYTHON = 100000  # generated values (and so roundings), in frames of 1..16 readings
VALUES_VM = 8000
U32 = 0xFFFFFFFF
WIRE = {"u8": ("<B", 0, 0xFF), "u16": ("<H", 0, 0xFFFF), "s16": ("<h", -0x8000, 0x7FFF),
        "u32": ("<I", 0, 0xFFFFFFFF), "s32": ("<i", -0x7FFFFFFF, 0x7FFFFFFF)}  # fmt: skip
F32_STEPS = 1 << 17  # docs/payload.md: float32 identity needs |x| < 2^17 steps


class RefErrorClass(Exception):
    """The error class the page names, carried by name."""


def _fail(name):
    raise RefErrorClass(name)


def _decimal(text):
    # "0.01" -> (1, 2): value 1 / 10^2; "-60" -> (-60, 0)
    text = text.replace("\u2212", "-")
    if "." in text:
        whole, frac = text.split(".")
        return int(whole + frac), len(frac)
    return int(text), 0


def _quantities():
    """(index, name, wire, step, lo, hi) of each row of the page's quantity table; decimals as (M, d)."""
    rows = []
    with open(DOC) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 6 or not cells[0].isdigit() or cells[3] not in WIRE:
                continue
            lo, hi = cells[5].split("\u2013")
            rows.append((int(cells[0]), cells[1], cells[3], _decimal(cells[4].split()[0]),
                         _decimal(lo.strip()), _decimal(hi.strip())))  # fmt: skip
    rows.sort()
    return rows


Q = _quantities()
BY_NAME = {}
for _q in Q:
    BY_NAME[_q[1]] = _q


def _cmp(a, b):
    # compare decimals (M, d)
    x = a[0] * 10 ** b[1]
    y = b[0] * 10 ** a[1]
    return (x > y) - (x < y)


def _raw(q, v):
    """The page's rounding: x = v / step exactly, raw = sign(x) * floor((64|x| + 33) / 64)."""
    if _cmp(v, q[4]) < 0 or _cmp(v, q[5]) > 0:
        _fail("ValueOutOfRange")
    num = v[0] * 10 ** q[3][1]  # x = num / den
    den = q[3][0] * 10 ** v[1]
    raw = (64 * abs(num) + 33 * den) // (64 * den)
    raw = -raw if num < 0 else raw
    lo, hi = WIRE[q[2]][1], WIRE[q[2]][2]
    if raw < lo or raw > hi:
        _fail("ValueOutOfRange")
    return raw


def _varint(out, n):
    if n < 0 or n > U32:
        _fail("PayloadError")
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zz(n):
    return 2 * n if n >= 0 else -2 * n - 1


def _meta(r):
    s, t = r.get("seq"), r.get("t")
    if not isinstance(s, int) or not isinstance(t, int) or not (0 <= s <= U32) or not (0 <= t <= U32):
        _fail("PayloadError")
    return s, t


def _check_ref(ref):
    s, t = ref.get("seq"), ref.get("t")
    if not isinstance(s, int) or not isinstance(t, int) or not (0 <= s <= U32) or not (0 <= t <= U32):
        _fail("RefError")
    return s, t


def ref_encode(readings, ref):
    """readings: dicts of seq, t and quantity -> (M, d) decimal."""
    n = len(readings)
    if n < 1 or n > 16:
        _fail("PayloadError")
    for r in readings:
        _meta(r)
    seq0, t0 = _meta(readings[0])
    out = bytearray()
    if ref is not None:
        rs, rt = _check_ref(ref)
        if not (rs - 32768 <= seq0 < rs + 32768) or t0 > rt:
            _fail("RefError")
        out.append(0x20 | 0x10 | (n - 1))
        out += struct.pack("<H", seq0 & 0xFFFF)
        _varint(out, rt - t0)
    else:
        out.append(0x20 | (n - 1))
        _varint(out, seq0)
        out += struct.pack("<I", t0)
    period = 0
    if n > 1:
        period = readings[1]["t"] - t0
        _varint(out, _zz(period))
    prev_seq, prev_t, prev_mask = seq0, t0, -1
    for i in range(n):
        r = readings[i]
        mask = 0
        for k in r:
            if k in ("seq", "t"):
                continue
            if k not in BY_NAME:
                _fail("UnknownQuantity")
            mask |= 1 << BY_NAME[k][0]
        if i > 0:
            ds = r["seq"] - prev_seq - 1
            dt = r["t"] - prev_t - period
            out.append((1 if mask == prev_mask else 0) | (2 if ds == 0 else 0) | (4 if dt == 0 else 0))
            if ds:
                _varint(out, _zz(ds))
            if dt:
                _varint(out, _zz(dt))
        if mask != prev_mask:
            m = mask
            while True:
                b = m & 0x7F
                m >>= 7
                out.append(b | (0x80 if m else 0))
                if not m:
                    break
        for q in Q:
            if mask & (1 << q[0]):
                out += struct.pack(WIRE[q[2]][0], _raw(q, r[q[1]]))
        prev_seq, prev_t, prev_mask = r["seq"], r["t"], mask
    return bytes(out)


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def byte(self):
        if self.pos >= len(self.data):
            _fail("FrameTruncated")
        self.pos += 1
        return self.data[self.pos - 1]

    def fixed(self, code):
        size = struct.calcsize(code)
        if self.pos + size > len(self.data):
            _fail("FrameTruncated")
        v = struct.unpack_from(code, self.data, self.pos)[0]
        self.pos += size
        return v

    def varint(self):
        n = 0
        for k in range(5):
            b = self.byte()
            n |= (b & 0x7F) << (7 * k)
            if not b & 0x80:
                if n > U32:
                    _fail("FrameCorrupt")
                return n
        _fail("FrameCorrupt")  # a 5th byte with bit 7 set: longer than 5 bytes

    def zz(self):
        n = self.varint()
        return n >> 1 if not n & 1 else -((n + 1) >> 1)

    def bitmap(self):
        mask = 0
        for k in range(4):
            b = self.byte()
            mask |= (b & 0x7F) << (7 * k)
            if not b & 0x80:
                return mask
        _fail("FrameCorrupt")


def ref_decode(data, ref):
    if len(data) == 0:
        _fail("FrameTruncated")
    rd = _Reader(data)
    h = rd.byte()
    if h >> 5 != 1:
        _fail("UnsupportedVersion")
    count = (h & 0x0F) + 1
    if h & 0x10:
        if ref is None:
            _fail("RefError")
        rs, rt = _check_ref(ref)
        low = rd.fixed("<H")
        age = rd.varint()
        w = max(0, rs - 32768)
        seq = w + ((low - w) % 65536)
        t = rt - age
        if seq > U32 or t < 0:
            _fail("FrameCorrupt")
    else:
        seq = rd.varint()
        t = rd.fixed("<I")
    period = rd.zz() if count > 1 else 0
    known = 0
    for q in Q:
        known |= 1 << q[0]
    out = []
    mask = 0
    for i in range(count):
        if i > 0:
            link = rd.byte()
            if link & 0xF8:
                _fail("FrameCorrupt")
            seq += 1 if link & 2 else 1 + rd.zz()
            t += period if link & 4 else period + rd.zz()
            if not (0 <= seq <= U32) or not (0 <= t <= U32):
                _fail("FrameCorrupt")
            if not link & 1:
                mask = rd.bitmap()
        else:
            mask = rd.bitmap()
        if mask & ~known:
            _fail("UnknownQuantity")
        r = {"seq": seq, "t": t}
        for q in Q:
            if mask & (1 << q[0]):
                raw = rd.fixed(WIRE[q[2]][0])
                step = q[3]
                if _cmp((raw * step[0], step[1]), q[4]) < 0 or _cmp((raw * step[0], step[1]), q[5]) > 0:
                    _fail("FrameCorrupt")
                # raw x step as the nearest double: one correctly rounded division
                r[q[1]] = raw * step[0] / 10 ** step[1]
        out.append(r)
    if rd.pos != len(data):
        _fail("FrameCorrupt")
    return out


# ---- generated inputs --------------------------------------------------------------------------


class _Rng:
    # xorshift32: the same sequence on every interpreter
    def __init__(self, seed):
        self.s = seed

    def next(self):
        s = self.s
        s ^= (s << 13) & U32
        s ^= s >> 17
        s ^= (s << 5) & U32
        self.s = s
        return s

    def below(self, n):
        return self.next() % n


def _value(rng, q, short):
    """A decimal in q's valid range: on the step grid, half-way, or (unless short) with 1..6 more
    digits (up to the 31/64 band edge, which needs 6)."""
    step_m, step_d = q[3]
    kind = rng.below(2 if short else 3)
    extra = 1 if kind == 1 else (0 if kind == 0 else 1 + rng.below(6))
    d = step_d + extra
    unit = step_m * 10**extra  # the step in units of 10^-d
    lo = (q[4][0] * 10 ** (d - q[4][1])) if d >= q[4][1] else q[4][0] // 10 ** (q[4][1] - d)
    hi = (q[5][0] * 10 ** (d - q[5][1])) if d >= q[5][1] else q[5][0] // 10 ** (q[5][1] - d)
    if kind == 0 or (kind == 1 and unit % 2):
        m = (lo // unit + rng.below((hi - lo) // unit + 1)) * unit
    elif kind == 1:
        m = (lo // unit + rng.below((hi - lo) // unit)) * unit + unit // 2
    else:
        m = lo + rng.below(hi - lo + 1)
        if rng.below(4) == 0:  # the band edge itself: x = n + 31/64 = n + 484375 / 10^6
            n = (m // unit) * 64 + 31
            m = None if extra < 6 else n * unit // 64
            if m is None or m < lo or m > hi:
                m = lo
    return (m, d)


def _frame(rng):
    n = 1 + (rng.below(16) if rng.below(4) == 0 else rng.below(3))
    seq = rng.below(2**32 - 1000)
    t = 1000000 + rng.below(2**31)
    period = (60, 300, 301, 3600)[rng.below(4)]
    readings = []
    names = None
    short = rng.below(2) == 0  # every value with at most one digit beyond its step
    for _ in range(n):
        if names is None or rng.below(4) == 0:
            names = [q for q in Q if rng.below(3) == 0]
        r = {"seq": seq, "t": t}
        for q in names:
            r[q[1]] = _value(rng, q, short)
        readings.append(r)
        seq += 1 if rng.below(5) else 2 + rng.below(40)
        t += period if rng.below(5) else period + rng.below(90) - 45
        t = max(0, t)
    ref = None
    if rng.below(2):
        ref = {"seq": max(0, readings[0]["seq"] + rng.below(65536) - 32768), "t": t + rng.below(100000)}
    return readings, ref


def _as_floats(readings, f32):
    out = []
    for r in readings:
        o = {}
        for k in r:
            if k in ("seq", "t"):
                o[k] = r[k]
            else:
                v = r[k][0] / 10 ** r[k][1]  # one correctly rounded division: the nearest double
                o[k] = struct.unpack("<f", struct.pack("<f", v))[0] if f32 else v
        out.append(o)
    return out


def _outcome(fn, *args):
    try:
        return fn(*args)
    except RefErrorClass as e:
        return "error " + e.args[0]
    except payload.PayloadError as e:
        return "error " + type(e).__name__


def _band_distance(readings):
    """Least distance, in steps, of any value's x from a band edge n + 31/64."""
    best = 1.0
    for r in readings:
        for k in r:
            if k in ("seq", "t"):
                continue
            m, d = r[k]
            step_m, step_d = BY_NAME[k][3]
            num = abs(m) * 10**step_d * 64  # 64x in units of 1 / (step_m * 10^d)
            den = step_m * 10**d
            frac = (num % (64 * den)) - 31 * den  # (64 frac(x) - 31) * den
            best = min(best, abs(frac) / (64 * den))
    return best


def _run(values_wanted, seed):
    rng = _Rng(seed)
    values = frames = half_way = 0
    f32_checked = f32_values = f32_other = on_edge = f32_wide = 0
    while values < values_wanted:
        readings, ref = _frame(rng)
        frames += 1
        for r in readings:
            for k in r:
                if k not in ("seq", "t"):
                    values += 1
                    step_m, step_d = BY_NAME[k][3]
                    m, d = r[k]
                    if (
                        d > step_d
                        and (2 * m * 10**step_d) % (step_m * 10**d) == 0
                        and m * 10**step_d % (step_m * 10**d)
                    ):
                        half_way += 1
        want = _outcome(ref_encode, readings, ref)
        got = _outcome(payload.encode, _as_floats(readings, False), ref)
        if got != want:  # only a value exactly on a band edge may round either way in floating point
            assert _band_distance(readings) < 1e-9, "frame %d: %r != %r for %r ref %r" % (
                frames,
                got,
                want,
                readings,
                ref,
            )
            on_edge += 1
        # float32 inputs: identical bytes when every value has at most one digit beyond the step
        # (all half-way values), else only near a band edge (docs/payload.md)
        got32 = _outcome(payload.encode, _as_floats(readings, True), ref)
        want32 = want
        if _max_steps(readings) >= F32_STEPS:
            # a 32-bit field past a float32's exact range (a position, bright light): within 2 steps;
            # the frame's other fields keep the exact guarantee, checked without it
            f32_wide += 1
            _assert_within_steps(got32, want, ref, 2)
            readings = _narrow(readings)
            want32 = _outcome(ref_encode, readings, ref)
            got32 = _outcome(payload.encode, _as_floats(readings, True), ref)
        if _max_extra(readings) <= 1:
            f32_checked += 1
            f32_values += sum(len(r) - 2 for r in readings)
            assert got32 == want32, "float32 frame %d: %r != %r for %r" % (frames, got32, want32, readings)
        elif got32 != want32:
            f32_other += 1
            assert _band_distance(readings) < 0.01, "float32 differs away from a band edge: %r" % readings
        if isinstance(want, str):
            continue
        assert _outcome(payload.decode, want, ref) == _outcome(ref_decode, want, ref)
        # a damaged copy: one byte changed, the frame cut, or a byte appended; same result or error
        bad = bytearray(want)
        kind = rng.below(3)
        if kind == 0:
            bad[rng.below(len(bad))] = rng.below(256)
        elif kind == 1:
            bad = bad[: rng.below(len(bad))]
        else:
            bad.append(rng.below(256))
        bad = bytes(bad)
        assert _outcome(payload.decode, bad, ref) == _outcome(ref_decode, bad, ref), "damaged %s" % bad.hex()
    assert f32_wide > frames // 10
    return values, frames, half_way, f32_checked, f32_values, f32_other, on_edge


def _assert_within_steps(got, want, ref, steps):
    if isinstance(want, str) or isinstance(got, str):
        assert got == want, "float32: %r != %r" % (got, want)
        return
    for g, w in zip(payload.decode(got, ref), payload.decode(want, ref)):
        assert sorted(g) == sorted(w)
        for k in w:
            if k not in ("seq", "t"):
                step = BY_NAME[k][3]
                assert abs(g[k] - w[k]) <= steps * step[0] / 10 ** step[1] + 1e-9, (k, g[k], w[k])


def _steps(k, v):
    m, d = v
    step_m, step_d = BY_NAME[k][3]
    return abs(m) * 10**step_d // (step_m * 10**d)


def _narrow(readings):
    """The readings without the fields a float32 cannot hold to a step's 1/64 (2^17 steps or more)."""
    return [{k: v for k, v in r.items() if k in ("seq", "t") or _steps(k, v) < F32_STEPS} for r in readings]


def _max_steps(readings):
    """Largest |x| (value in steps) of the frame: float32 holds it to a step's 1/64 below 2^17."""
    worst = 0
    for r in readings:
        for k in r:
            if k not in ("seq", "t"):
                worst = max(worst, _steps(k, r[k]))
    return worst


def _max_extra(readings):
    worst = 0
    for r in readings:
        for k in r:
            if k not in ("seq", "t"):
                m, d = r[k]
                e = d - BY_NAME[k][3][1]
                while e > 0 and m % 10 == 0:
                    m //= 10
                    e -= 1
                worst = max(worst, e)
    return worst


def test_the_page_defines_every_quantity_of_the_codec():
    assert len(Q) == len(payload.vocab.QUANTITIES)
    for (index, name, wire, step, lo, hi), q in zip(Q, payload.vocab.QUANTITIES):
        assert (index, name) == (q[2], q[0]), name
        assert step[0] * q[5] == q[4] * 10 ** step[1], name  # step = num / den
        assert WIRE[wire][0][1] == q[3] and lo[0] == q[6] * 10 ** lo[1] and hi[0] == q[7] * 10 ** hi[1], name


def test_reference_from_the_page_agrees_with_the_codec_byte_for_byte():
    n = VALUES_VM if IS_MICROPYTHON else VALUES_CPYTHON
    values, frames, half_way, f32_frames, f32_values, f32_other, on_edge = _run(n, 2463534242)
    assert half_way > values // 5 and f32_frames > frames // 3 and f32_values > values // 3
    print(
        "reference: %d values in %d frames, %d half-way; float32: %d frames (%d values) identical, "
        "%d other frames differ near a band edge; %d frames differ from exact arithmetic, each at an edge"
        % (values, frames, half_way, f32_frames, f32_values, f32_other, on_edge)
    )
