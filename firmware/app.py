# The node application: one measurement interval after another (docs/firmware.md).
#
# An interval ends at a multiple of interval_s in unix time, so all nodes' readings line up.
# Within it: noise sensors are read every noise_sample_s; PM sensors are woken WARMUP_MS before the
# sampling window; PM and T/RH/P are sampled `samples` times over the last sample_s; counters are
# read at the end. The aggregate gets the next seq and the interval's end as its time, goes to the
# datalog, then on air with whatever backlog fits (firmware.uplink). A downlink on FPort 2 carries
# commands (edge.downlink).
#
# The loop is a generator: step() runs until the next wait and returns how many ms to wait. On a
# board, run() sleeps that long (light sleep, watchdog fed in steps); the simulator calls step()
# when a node is due, so a thousand nodes share one process and one virtual time line. Only short
# waits (a sensor's measurement time, an AT command's answer) happen inside step().
#
# The HAL (simulator/node_hal.py for tests and the simulator, firmware/board.py on a board) gives:
#   clock, i2c(name), uart(name), pin(name), stash(name) -> RTC-memory slot or None,
#   wdt_start(ms), wdt_feed(), sleep_ms(ms) (light sleep), set_time(unix), reset(), log(text)
from micropython import const

from edge import downlink, lora
from firmware import uplink
from firmware.aggregate import POSITION, Aggregator
from firmware.datalog import Datalog
from firmware.events import Watch
from firmware.modem import LoRaE5, ModemError
from firmware.sensors import build_all

_MAX_FRAMES_PER_INTERVAL = const(4)
_MAX_WAIT_FOR_BAND_S = const(60)
_MODEM_POLL_MS = const(200)
_LATE_S = const(5)  # events more than this in the past (after a reboot mid-interval) are skipped
_WDT_MS = const(8000)  # below the RP2040's 8.3 s maximum; ESP32 allows more
_DEEP_SLEEP_MIN_MS = const(60000)
_JOIN_S = const(10)  # a join attempt: request, JOIN_ACCEPT_DELAY2 (6 s), the accept at SF12
_EARLIEST_TIME = const(1577836800)  # 2020-01-01: a time sync before it is a broken gateway clock
_CLOCK_SLACK_S = const(2)  # a GNSS fix's UTC further than this from the clock sets it
_ORDER = ("join", "watch", "wake", "noise", "sample", "end")  # of events due in the same second


class _FeedingClock:
    """The HAL clock for the modem driver: its short blocking waits feed the watchdog."""

    def __init__(self, clock, feed):
        self._c = clock
        self._feed = feed

    def sleep_ms(self, ms):
        self._c.sleep_ms(ms)
        self._feed()

    def ticks_ms(self):
        return self._c.ticks_ms()

    def ticks_diff(self, a, b):
        return self._c.ticks_diff(a, b)

    def ticks_add(self, t, ms):
        return self._c.ticks_add(t, ms)

    def time(self):
        return self._c.time()


class Node:
    def __init__(self, hal, cfg, data_dir=None):
        self.hal = hal
        self.cfg = cfg
        self.clock = hal.clock
        self.interval_s = cfg.interval_s
        self.sensors = build_all(cfg.sensors, hal, hal.clock)
        self.agg = Aggregator()
        dl = cfg.datalog
        self._data_dir = data_dir or dl["dir"]
        self.log = Datalog(self._data_dir, dl["budget_bytes"], dl["batch"], hal.stash("datalog"))
        lw = cfg.lorawan
        self.dr = lw["dr"]
        self.modem = LoRaE5(hal.uart("modem"), _FeedingClock(hal.clock, hal.wdt_feed))
        channels = cfg.board.get("channels", lora.EU868_DEFAULT_CHANNELS)
        up = cfg.uplink
        self.airtime = uplink.Airtime(channels, up["duty_cycle"], up["fair_use_s_per_day"], self.clock.time())
        self.backlog = uplink.Backlog(self.log.acked_seq + 1)
        self._pack_scratch = uplink.new_scratch()  # frame buffers for every uplink, allocated once
        self.max_backlog = up["max_backlog_per_uplink"]
        self.limit = None  # largest payload at self.dr, from the modem
        self.configured = False
        self.joins = uplink.JoinPolicy(lw["dev_eui"], self.clock.time(), lw["join_window_s"], lw["join_backoff_max_s"])
        self.last_reading = None
        self.counters = {
            "intervals": 0,
            "uplinks": 0,
            "uplink_errors": 0,
            "budget_skips": 0,
            "joins": 0,
            "join_failures": 0,
            "downlinks": 0,
            "bad_commands": 0,
            "dr_changes": 0,
            "log_errors": 0,
            "events": 0,  # event readings made by a rule that started to hold
            "event_sends": 0,  # confirmed uplinks of them (first and repeats)
            "events_acked": 0,
        }
        ev = cfg.events
        self.watch = Watch(ev["rules"]) if ev else None
        self.pending_event = None  # the event reading the network has not acknowledged yet
        self._gen = None
        self.on_good_interval = None  # main.py resets its crash counter here
        self._read_interval()
        self._restore()

    # ---- settings and state that outlive a reset ----

    def _read_interval(self):
        # set_interval survives power loss: a small file beside the datalog
        try:
            with open(self._data_dir + "/interval") as f:
                v = int(f.read())
            if downlink.MIN_INTERVAL_S <= v <= 86400:
                self.interval_s = v
        except (OSError, ValueError):
            pass

    def _write_interval(self):
        try:
            with open(self._data_dir + "/interval", "w") as f:
                f.write("%d" % self.interval_s)
        except OSError:
            self.counters["log_errors"] += 1

    def _restore(self):
        st = self.hal.stash("app")
        data = st.load() if st is not None else None
        if not data:
            return
        try:
            import json

            s = json.loads(data)
            self.backlog.restore(s["backlog"])
            self.airtime.restore(s["airtime"])
            self.modem.joined = s["joined"]
            self.configured = s["joined"]
            self.dr = s.get("dr", self.dr)
            if "joins" in s:
                self.joins.restore(s["joins"])  # deep sleep is no power-up: no new first-join draw
        except (ValueError, KeyError, TypeError, IndexError):
            pass  # a stash from another firmware version: start afresh

    def save(self):
        """Before deep sleep or reset: the datalog batch and the loop state go to RTC memory."""
        self.log.close()
        st = self.hal.stash("app")
        if st is not None:
            import json

            s = {"backlog": self.backlog.state(), "airtime": self.airtime.state(), "joined": self.modem.joined,
                 "dr": self.dr, "joins": self.joins.state()}  # fmt: skip
            try:
                st.save(json.dumps(s).encode())
            except OSError:
                pass  # too big for RTC memory: it restarts from the datalog's ack

    # ---- the loop ----

    def step(self):
        """Run until the next wait; return the ms to wait before calling again."""
        self.hal.wdt_feed()
        if self._gen is None:
            self._gen = self._interval()
        try:
            return next(self._gen)
        except StopIteration:
            self._gen = None
            return 0

    def run_interval(self):
        """Run one whole interval, sleeping through the HAL; returns its reading (tests, tools)."""
        self._gen = self._interval()
        while True:
            try:
                ms = next(self._gen)
            except StopIteration:
                self._gen = None
                return self.last_reading
            self.sleep(ms)

    def sleep(self, ms):
        """Light sleep through the HAL, feeding the watchdog in steps below its timeout."""
        while ms > 0:
            chunk = min(ms, _WDT_MS // 2)
            self.hal.sleep_ms(chunk)
            self.hal.wdt_feed()
            ms -= chunk

    def deep_sleep_ok(self):
        """Deep sleep loses RAM and stops IRQs: only on boards that wake from it into main.py, and
        only without noise sensors (read all interval long) and counters (counted by IRQ)."""
        if not getattr(self.hal, "can_deep_sleep", False):
            return False
        for s in self.sensors:
            if s.kind != "sample":
                return False
        return True

    def run(self):
        """The board's main loop; never returns (reset() and deep sleep restart the board)."""
        self.hal.wdt_start(_WDT_MS)
        deep = self.deep_sleep_ok()
        while True:
            ms = self.step()
            if deep and ms >= _DEEP_SLEEP_MIN_MS and not self.modem.busy:
                self.save()
                self.modem.sleep()
                self.hal.deep_sleep(ms)
            self.sleep(ms)

    def next_end(self):
        """The end of the interval now running."""
        now = self.clock.time()
        return (now // self.interval_s + 1) * self.interval_s

    def plan(self, end):
        """[(unix s, action)] of one interval ending at end, in time order."""
        start = end - self.interval_s
        events = []
        if any(s.kind == "noise" for s in self.sensors):
            step = self.cfg.noise_sample_s
            t = start + step
            while t < end:
                events.append((t, "noise"))
                t += step
        n = self.cfg.samples
        window = min(self.cfg.sample_s, self.interval_s - 1)
        warm = 0
        for s in self.sensors:
            if s.kind == "sample" and s.warmup_ms > warm:
                warm = s.warmup_ms
        events.append((max(start, end - window - (warm + 999) // 1000), "wake"))
        for j in range(n):
            events.append((end - window + (j + 1) * window // n, "sample"))
        if self.watch is not None:
            # on one grid of the clock (multiples of watch_s), so the gap across an interval's end is
            # one watch step like the others, whatever the interval
            w = self.cfg.events["watch_s"]
            t = (start // w + 1) * w
            while t <= end:
                events.append((t, "watch"))
                t += self.cfg.events["watch_s"]
        events.append((end, "end"))
        events.sort(key=lambda e: (e[0], _ORDER.index(e[1])))  # MicroPython's sort is not stable
        return events

    def _until(self, t):
        """ms from now to unix second t (0 when due)."""
        left = t - self.clock.time()
        return left * 1000 if left > 0 else 0

    def _interval(self):
        end = self.next_end()
        self.agg.reset()
        events = self.plan(end)
        if not self.modem.joined:
            # at its own moment (uplink.JoinPolicy), before the samples so the sub-band has reopened
            # when the reading is due; a later moment waits for the end of the interval
            t = max(self.clock.time(), self.joins.next_at)
            first = end
            for e in events:
                if e[1] in ("wake", "sample") and e[0] < first:
                    first = e[0]
            if t <= first - _JOIN_S:
                events.append((t, "join"))
                events.sort(key=lambda e: (e[0], _ORDER.index(e[1])))
        ran = False  # an event ran since the last yield
        for t, action in events:
            ms = self._until(t)
            if ms:
                yield ms  # the wait to the next event also returns control after the last one
            elif self.clock.time() - t > _LATE_S and action in ("noise", "sample"):
                continue  # started mid-interval: no burst of stale samples
            elif ran:
                yield 0  # one event a step: the loop (and the simulator) regains control between events
            ran = True
            if action == "wake":
                for s in self.sensors:
                    if s.kind == "sample":
                        s.wake()
            elif action == "watch":
                yield from self._watch()
            elif action == "join":
                if not self.modem.joined:
                    yield from self._join()
            elif action == "end":
                self._read("noise")
                self._read("count")
                for s in self.sensors:
                    if s.kind == "sample" and s.warmup_ms:
                        s.sleep()  # lasers and fans rest between intervals
            else:
                self._read(action)
        if ran:
            yield 0
        reading = self.agg.result()
        reading["t"] = end
        self.counters["intervals"] += 1
        try:
            reading["seq"] = self.log.append(reading)
        except Exception:  # flash full or failing: counted; the node carries on
            self.counters["log_errors"] += 1
            self.last_reading = reading
            return
        self.last_reading = reading
        yield 0
        yield from self._uplink(reading)
        if self.on_good_interval is not None:
            self.on_good_interval()

    def _read(self, kind):
        for s in self.sensors:
            if s.kind == kind:
                values = s.read()
                if values:
                    self.agg.add(values)
                    fix_time = getattr(s.driver, "time", None)  # a GNSS fix's UTC: the node's clock
                    if (
                        isinstance(fix_time, int)
                        and fix_time >= _EARLIEST_TIME
                        and abs(fix_time - self.clock.time()) > _CLOCK_SLACK_S
                    ):
                        self.joins.shift(fix_time - self.clock.time())
                        self.hal.set_time(fix_time)
                elif "latitude" in s.quantities:
                    self.agg.forget(POSITION)  # no fix now: no position, never an earlier one

    # ---- events ----

    def _watch(self):
        """Read the watched sensors; a rule that starts to hold makes an event reading, sent at once."""
        if self.pending_event is None:
            values = {}
            for s in self.sensors:
                for q in self.watch.quantities:
                    if q in s.quantities:
                        got = s.read()
                        if got:
                            values.update(got)
                        break
            if self.watch.check(values, self.clock.time()):
                self.counters["events"] += 1
                reading = dict(values)
                reading["t"] = self.clock.time()
                try:
                    reading["seq"] = self.log.append(reading)
                except Exception:
                    self.counters["log_errors"] += 1
                    return
                self.pending_event = reading
        if self.pending_event is not None:
            yield from self._send_event()

    def _send_event(self):
        """One confirmed uplink of the pending event, waiting for the duty cycle if it must."""
        if not self.modem.joined:
            return
        live = self.pending_event
        frame, seqs = uplink.pack(live, [], self._limit(), self.clock.time(), self._pack_scratch)
        if frame is None:
            self.pending_event = None  # cannot be framed: it stays in the datalog for the backlog
            return
        wait = self.airtime.wait_s(len(frame), self.dr, self.clock.time())
        if wait < 0 or wait > _MAX_WAIT_FOR_BAND_S:
            self.counters["budget_skips"] += 1
            return  # the next watch tries again
        if wait:
            yield wait * 1000
        try:
            self.modem.begin_send(frame, downlink.FPORT_DATA, True)
        except ModemError:
            self.counters["uplink_errors"] += 1
            return
        now = self.clock.time()
        res = yield from self._modem_result()
        self.counters["event_sends"] += 1
        if res.sent:
            self.airtime.charge(len(frame), self.dr, now)
            self.backlog.sent(seqs, self.log)
        if res.acked:
            self.counters["events_acked"] += 1
            self.pending_event = None
        if res.port is not None:
            self.command(res.port, res.data)

    # ---- radio ----

    def _modem_result(self):
        while True:
            r = self.modem.poll()
            if r is not None or not self.modem.busy:
                return r
            yield _MODEM_POLL_MS

    def _join(self):
        lw = self.cfg.lorawan
        ok = False
        try:
            if not self.configured:
                if not self.modem.probe():
                    raise ModemError("modem does not answer")
                self.dr = lw["dr"]  # a new session starts at the configured data rate; ADR moves it from there
                self.modem.configure(lw["dev_eui"], lw["join_eui"], lw["app_key"], self.dr, lw["adr"])
                self.configured = True
            now = self.clock.time()
            wait = self.joins.wait_s(self.dr, now)
            if wait:  # the aggregated join duty cycle is spent: no attempt before it allows one
                self.joins.next_at = now + wait
                return False
            self.modem.begin_join()
            self.joins.sent(self.dr, now)
            self.airtime.charge(uplink.JOIN_REQUEST_LEN - lora.PHY_OVERHEAD, self.dr, now)
            ok = yield from self._modem_result()
        except ModemError:
            self.configured = False
        if ok:
            self.counters["joins"] += 1
            self.joins.joined()
            self.limit = None
            return True
        self.counters["join_failures"] += 1
        self.joins.failed(self.clock.time())
        return False

    def _follow_dr(self):
        """With ADR the network moves the modem's data rate (LinkADRReq, or the modem's own back-off):
        read it back so airtime and payload size follow the frames really sent."""
        if not self.cfg.lorawan["adr"]:
            return
        try:
            dr = self.modem.query_dr()
        except ModemError:
            return
        if dr != self.dr and 0 <= dr < len(lora.EU868_DR):
            self.dr = dr
            self.limit = None
            self.counters["dr_changes"] += 1

    def _limit(self):
        if self.limit is None:
            try:
                self.limit = self.modem.max_payload()
            except ModemError:
                return lora.eu868_dr(self.dr)[2]  # the region's table, until the modem answers
        return self.limit

    def _uplink(self, live):
        """Send live with backlog while the airtime budget allows (a generator of waits)."""
        if not self.modem.joined:
            if self.clock.time() < self.joins.next_at:
                return
            joined = yield from self._join()  # the session was lost (modem reset) since the start
            if not joined:
                return
        frames = 0
        waits = 0
        while frames < _MAX_FRAMES_PER_INTERVAL and waits < 3:
            now = self.clock.time()
            backlog = self.backlog.candidates(self.log, live["seq"] if live else 0, self.max_backlog)
            frame, seqs = uplink.pack(live, backlog, self._limit(), now, self._pack_scratch)  # ages from now
            if frame is None:
                return
            wait = self.airtime.wait_s(len(frame), self.dr, now)
            if wait != 0:
                if live is None:
                    return  # the backlog waits for the next interval
                if wait < 0 or wait > _MAX_WAIT_FOR_BAND_S:
                    self.counters["budget_skips"] += 1
                    return
                yield wait * 1000
                waits += 1
                continue  # pack again: the ages must count from the time of sending
            try:
                self.modem.begin_send(frame, downlink.FPORT_DATA)
            except ModemError:
                self.counters["uplink_errors"] += 1
                return
            res = yield from self._modem_result()
            if res.error == "no_band" and 0 < res.wait_ms <= _MAX_WAIT_FOR_BAND_S * 1000:
                yield res.wait_ms  # the modem's own duty-cycle limiter is stricter than ours
                waits += 1
                continue
            if res.sent:
                self.airtime.charge(len(frame), self.dr, now)
                self.backlog.sent(seqs, self.log)
                self.counters["uplinks"] += 1
                self._follow_dr()
            else:
                self.counters["uplink_errors"] += 1
                if res.error != "length":
                    return
                self.limit = max(11, len(frame) - 5)  # FOpts took room: smaller next time
            if res.port is not None:
                self.command(res.port, res.data)
            frames += 1
            live = None
            if not self.backlog.candidates(self.log, 0, 1):
                return

    # ---- commands ----

    def command(self, port, data):
        self.counters["downlinks"] += 1
        if port != downlink.FPORT_COMMAND:
            self.counters["bad_commands"] += 1
            return
        try:
            cmds = downlink.decode(data)
        except ValueError:  # DownlinkError: ignored as a whole, counted
            self.counters["bad_commands"] += 1
            return
        for cmd in cmds:
            name = cmd[0]
            if name == "ack":
                self.log.ack(cmd[1])
                self.backlog.acked(self.log.acked_seq)
            elif name == "resend":
                self.backlog.request(cmd[1], cmd[1] + cmd[2] - 1)
            elif name == "set_interval":
                self.interval_s = cmd[1]
                self._write_interval()
            elif name == "time_sync":
                if cmd[1] < _EARLIEST_TIME:
                    self.counters["bad_commands"] += 1  # a gateway with a lost clock: keep ours
                    continue
                delta = cmd[1] - self.clock.time()
                self.hal.set_time(cmd[1])
                self.airtime.shift(delta)
                self.joins.shift(delta)
            elif name == "reboot":
                self.save()
                self.hal.reset()
