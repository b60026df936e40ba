# Uplink policy: may the node send now, and what goes into the frame.
#
# Airtime: time on air per Semtech AN1200.13 (edge.lora). Before every uplink the policy checks
#   - the ETSI EN 300 220 duty cycle of each EU868 sub-band (edge.lora.EU868_SUBBANDS): after a
#     frame of ToA, the sub-band is closed for ToA * (1/dc - 1). The modem picks the channel, so the
#     frame is charged to every sub-band the channel plan uses: conservative, never over 1 %.
#   - an optional fair-use budget (The Things Network's 30 s of airtime a day): a token bucket of
#     capacity budget/4 refilled at 3/4 budget a day, so no 24 h window ever holds more than budget,
#     and the airtime is spread over the day instead of spent in one burst.
# Times are unix seconds of the node's RTC (it survives deep sleep); shift() follows a time sync.
#
# Joining: JoinPolicy says when the next join-request may go (random first moment, jittered
# back-off, the aggregated join duty cycle of LoRaWAN 1.0.x §7).
#
# Packing: the live reading first, then the backlog (readings the gateway asked for again, then
# readings never sent, oldest first), as many as fit the data rate's maximum payload.
from micropython import const

from edge import lora, payload

_DAY_S = const(86400)
_MAX_RANGES = const(4)
_MAX_SENT_AHEAD = const(32)
_HOUR_S = const(3600)
_JOIN_BACKOFF_MIN_S = const(15)
JOIN_REQUEST_LEN = const(23)  # MHDR, JoinEUI, DevEUI, DevNonce, MIC (LoRaWAN 1.0.x §6.2.4)
# Aggregated join-request airtime allowed after power-up (LoRaWAN 1.0.3 and 1.0.4 §7, retransmission
# back-off): 36 s in hour 0-1, 36 s in hours 1-11, then 8.7 s in any 24 h.
_JOIN_EARLY_MS = const(36000)
_JOIN_MID_MS = const(36000)
_JOIN_LATE_MS = const(8700)


class Airtime:
    """Duty-cycle and fair-use bookkeeping. All times are unix seconds; airtime in ms."""

    def __init__(self, channels, duty_cycle=True, fair_use_s_per_day=30, now=0):
        bands = []
        for f in channels:
            b = lora.eu868_subband(f)
            if b not in bands:
                bands.append(b)
        self.bands = bands
        self.duty_cycle = duty_cycle
        self._free_ms = [0] * len(lora.EU868_SUBBANDS)  # unix ms when each sub-band opens again
        self.budget_ms = fair_use_s_per_day * 1000
        self.capacity_ms = self.budget_ms // 4
        self._tokens = self.capacity_ms
        self._tokens_at = now
        self.used_ms = 0  # airtime spent since boot, for the status counters

    @staticmethod
    def toa_ms(frm_len, dr):
        sf, bw, _ = lora.eu868_dr(dr)
        return (lora.time_on_air_us(frm_len + lora.PHY_OVERHEAD, sf, bw) + 999) // 1000

    def _refill(self, now):
        if self.budget_ms <= 0:
            return
        dt = now - self._tokens_at
        if dt > 0:
            rate = self.budget_ms - self.capacity_ms  # ms a day
            self._tokens = min(self.capacity_ms, self._tokens + dt * rate // _DAY_S)
            self._tokens_at = now

    def wait_s(self, frm_len, dr, now):
        """0 when a frame of frm_len payload bytes may go now, else seconds to wait (-1: never)."""
        toa = self.toa_ms(frm_len, dr)
        wait_ms = 0
        if self.duty_cycle:
            for b in self.bands:
                w = self._free_ms[b] - now * 1000
                if w > wait_ms:
                    wait_ms = w
        if self.budget_ms > 0:
            if toa > self.capacity_ms:
                return -1
            self._refill(now)
            if self._tokens < toa:
                rate = self.budget_ms - self.capacity_ms
                need = (toa - self._tokens) * _DAY_S // rate + 1
                if need * 1000 > wait_ms:
                    wait_ms = need * 1000
        return (wait_ms + 999) // 1000

    def charge(self, frm_len, dr, now):
        """Account for a frame sent at now (the TX may start up to a second later)."""
        toa = self.toa_ms(frm_len, dr)
        self.used_ms += toa
        start_ms = (now + 1) * 1000
        for b in self.bands:
            dc = lora.EU868_SUBBANDS[b][2]  # in 1/1000
            self._free_ms[b] = start_ms + toa * 1000 // dc
        if self.budget_ms > 0:
            self._refill(now)
            self._tokens -= toa

    def shift(self, delta_s):
        """The RTC moved by delta_s (time sync): move every deadline with it."""
        for b in range(len(self._free_ms)):
            if self._free_ms[b]:
                self._free_ms[b] += delta_s * 1000
        self._tokens_at += delta_s

    def state(self):
        return [self._free_ms[:], self._tokens, self._tokens_at, self.used_ms]

    def restore(self, st):
        self._free_ms = list(st[0])
        self._tokens, self._tokens_at, self.used_ms = st[1], st[2], st[3]


class JoinPolicy:
    """When the next join-request may go. Times are unix seconds of the node's RTC.

    - The first one at a random moment of the first ``window_s`` after power-up: nodes powered
      together (a street's supply restored, a fleet installed in one morning) would otherwise all
      transmit in the same second, collide, and retry together.
    - After a failed attempt, a back-off doubling from 15 s to ``backoff_max_s``, each wait drawn
      at random in [b/2, b], so nodes that failed together do not retry together.
    - Never beyond the aggregated join duty cycle (LoRaWAN 1.0.x §7, see _JOIN_*_MS above).
    Random draws: an xorshift32 seeded with the DevEUI and the boot time, so every node draws its
    own sequence and a simulated run is reproducible.
    """

    def __init__(self, dev_eui, now, window_s=0, backoff_max_s=3600):
        x = now & 0xFFFFFFFF
        for b in dev_eui:
            x = (x * 31 + b) & 0xFFFFFFFF
        self._x = x or 1
        for _ in range(4):  # seeds a bit apart (DevEUIs in sequence) give unrelated draws after a few rounds
            self._rand(1)
        self.t0 = now
        self.backoff_max_s = backoff_max_s
        self.backoff_s = _JOIN_BACKOFF_MIN_S
        self.next_at = now + self._rand(window_s) if window_s > 0 else 0  # 0: due whatever the RTC says
        self.early_ms = 0  # join airtime in the first hour after power-up
        self.mid_ms = 0  # in hours 1 to 11
        self.late = []  # [unix s, ms] of the join-requests of the last 24 h, after hour 11

    def _rand(self, n):
        """0 <= r < n (0 when n <= 0)."""
        x = self._x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._x = x
        return x % n if n > 0 else 0

    @staticmethod
    def toa_ms(dr):
        return Airtime.toa_ms(JOIN_REQUEST_LEN - lora.PHY_OVERHEAD, dr)

    def wait_s(self, dr, now):
        """0 when a join-request at dr may go now, else seconds until it may (aggregated duty cycle)."""
        toa = self.toa_ms(dr)
        age = now - self.t0
        if age < _HOUR_S:
            return 0 if self.early_ms + toa <= _JOIN_EARLY_MS else self.t0 + _HOUR_S - now
        if age < 11 * _HOUR_S:
            return 0 if self.mid_ms + toa <= _JOIN_MID_MS else self.t0 + 11 * _HOUR_S - now
        self.late = [e for e in self.late if e[0] > now - _DAY_S]
        used = 0
        for e in self.late:
            used += e[1]
        if used + toa <= _JOIN_LATE_MS or not self.late:
            return 0
        return self.late[0][0] + _DAY_S - now

    def sent(self, dr, now):
        toa = self.toa_ms(dr)
        age = now - self.t0
        if age < _HOUR_S:
            self.early_ms += toa
        elif age < 11 * _HOUR_S:
            self.mid_ms += toa
        else:
            self.late.append([now, toa])

    def failed(self, now):
        """An attempt without a join-accept: the next one after the jittered back-off."""
        b = self.backoff_s
        self.next_at = now + b - self._rand(b // 2 + 1)
        self.backoff_s = min(b * 2, self.backoff_max_s)

    def joined(self):
        self.backoff_s = _JOIN_BACKOFF_MIN_S

    def state(self):
        return [self._x, self.t0, self.backoff_s, self.next_at, self.early_ms, self.mid_ms, self.late]

    def restore(self, st):
        self._x, self.t0, self.backoff_s, self.next_at, self.early_ms, self.mid_ms = st[:6]
        self.late = [list(e) for e in st[6]]

    def shift(self, delta_s):
        """The RTC moved by delta_s (time sync)."""
        self.t0 += delta_s
        self.next_at += delta_s
        for e in self.late:
            e[0] += delta_s


class Backlog:
    """Which readings still have to go on air, besides the live one."""

    def __init__(self, next_unsent=1):
        self.cursor = next_unsent  # every reading below it went on air at least once
        self.sent_ahead = []  # seqs at or above the cursor that went on air as live readings
        self.ranges = []  # [first, last] the gateway asked for again
        self.dropped_requests = 0
        self.unavailable = 0  # requested ranges the datalog no longer (or never) held

    def request(self, first, last):
        """A resend command: queue [first, last]; the oldest request goes when the queue is full."""
        for r in self.ranges:
            if r[0] <= first and last <= r[1]:
                return
        if len(self.ranges) >= _MAX_RANGES:
            self.ranges.pop(0)
            self.dropped_requests += 1
        self.ranges.append([first, last])

    def acked(self, seq):
        """The gateway holds everything up to seq: nothing below it needs to go again."""
        if seq + 1 > self.cursor:
            self.cursor = seq + 1
            self.sent_ahead = [s for s in self.sent_ahead if s > seq]
        self.ranges = [r for r in self.ranges if r[1] > seq]
        for r in self.ranges:
            if r[0] <= seq:
                r[0] = seq + 1

    def candidates(self, log, live_seq, limit):
        """Up to `limit` backlog readings from the datalog, requested ranges first."""
        out = []
        first_held = log.first_seq
        empty = []
        for r in self.ranges:
            it = log.read(max(r[0], first_held), r[1])
            found = 0
            for rd in it:
                if len(out) >= limit:
                    break
                found += 1
                if rd["seq"] != live_seq:
                    out.append(rd)
            it.close()  # closes the segment file when we stopped early
            if not found and len(out) < limit:
                empty.append(r)  # evicted, skipped after a power loss, or not yet measured
            if len(out) >= limit:
                break
        for r in empty:
            self.ranges.remove(r)
            self.unavailable += 1
        if len(out) >= limit:
            return out
        end = live_seq - 1 if live_seq else log.last_seq
        if self.cursor <= end and len(out) < limit:
            it = log.read(max(self.cursor, first_held), end)
            for rd in it:
                if len(out) >= limit:
                    break
                if rd["seq"] not in self.sent_ahead and not self._has(out, rd["seq"]):
                    out.append(rd)
            it.close()
        return out

    @staticmethod
    def _has(readings, seq):
        for r in readings:
            if r["seq"] == seq:
                return True
        return False

    def sent(self, seqs, log):
        """These seqs went on air: take them off the requests and move the cursor."""
        for s in seqs:
            for r in self.ranges:
                if r[0] <= s <= r[1]:
                    r[0] = s + 1  # a range goes out oldest first: what lies below s went too (or is gone)
            if s >= self.cursor and s not in self.sent_ahead:
                self.sent_ahead.append(s)
        self.ranges = [r for r in self.ranges if r[0] <= r[1]]
        if self.cursor < log.first_seq:
            self.cursor = log.first_seq  # evicted readings can no longer go
        while self.cursor in self.sent_ahead:
            self.sent_ahead.remove(self.cursor)
            self.cursor += 1
        if len(self.sent_ahead) > _MAX_SENT_AHEAD:
            self.sent_ahead = self.sent_ahead[-_MAX_SENT_AHEAD:]

    def state(self):
        return [self.cursor, self.sent_ahead[:], [r[:] for r in self.ranges]]

    def restore(self, st):
        self.cursor = st[0]
        self.sent_ahead = list(st[1])
        self.ranges = [list(r) for r in st[2]]


def new_scratch():
    """Buffers pack() reuses, allocated once per node: (frame buffer, prefix ends)."""
    return bytearray(payload.MAX_FRAME_BYTES), [0] * payload.MAX_READINGS


def pack(live, backlog, limit_bytes, now, scratch=None):
    """The frame for live (a reading or None) + backlog readings: (frame bytes, [seqs]) or (None, []).

    Relative to ref {"seq": first reading's seq, "t": now}: the gateway decodes with its own last
    seen seq and its receive time (docs/payload.md). scratch: new_scratch(), to allocate less.
    """
    readings = []
    if live is not None:
        readings.append(live)
    readings.extend(backlog)
    if not readings:
        return None, []
    t_max = now
    for r in readings:
        if r["t"] > t_max:
            t_max = r["t"]  # a clock set back by a time sync: never a negative age
    ref = {"seq": readings[0]["seq"], "t": t_max}
    buf, ends = scratch if scratch is not None else new_scratch()
    n = payload.max_readings_in(readings, limit_bytes, ref, buf, ends)
    if n == 0:
        return None, []
    length = payload.encode_into(buf, readings, ref, n)
    return bytes(memoryview(buf)[:length]), [readings[i]["seq"] for i in range(n)]
