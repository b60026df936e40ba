# Uplink policy: airtime, duty cycle, fair-use budget, backlog bookkeeping and frame packing.
from edge import lora, payload
from firmware.datalog import Datalog
from firmware.uplink import Airtime, Backlog, JoinPolicy, pack
from tests.device.mptest import tmpdir

T0 = 1763800000
DEFAULT = (868100000, 868300000, 868500000)


def test_airtime_matches_the_semtech_formula():
    # 13-byte PHYPayload at SF9/125 kHz = 164.864 ms (DESIGN.md); an empty FRMPayload is 13 bytes
    assert Airtime.toa_ms(0, 3) == 165
    assert Airtime.toa_ms(51, 0) == (lora.time_on_air_us(64, 12, 125000) + 999) // 1000


def test_duty_cycle_closes_the_sub_band_for_99_times_the_airtime():
    a = Airtime(DEFAULT, fair_use_s_per_day=0, now=T0)
    assert a.wait_s(20, 5, T0) == 0
    a.charge(20, 5, T0)
    toa = Airtime.toa_ms(20, 5)
    w = a.wait_s(20, 5, T0)
    assert w > 0 and abs(w - (1 + toa * 100 / 1000)) <= 1
    assert a.wait_s(20, 5, T0 + w) == 0


def test_every_sub_band_of_the_plan_is_charged():
    plan = DEFAULT + (867100000,)
    a = Airtime(plan, fair_use_s_per_day=0, now=T0)
    assert a.bands == [2, 1]
    a.charge(51, 0, T0)
    assert a.wait_s(10, 0, T0 + 10) > 0


def test_fair_use_budget_holds_over_any_day():
    a = Airtime(DEFAULT, duty_cycle=False, fair_use_s_per_day=30, now=T0)
    t = T0
    sent = []
    while t < T0 + 3 * 86400:
        if a.wait_s(51, 0, t) == 0:
            a.charge(51, 0, t)
            sent.append(t)
        t += 60
    toa = Airtime.toa_ms(51, 0)
    for i in range(len(sent)):
        window = [s for s in sent[i:] if s < sent[i] + 86400]
        assert len(window) * toa <= 30000
    assert len(sent) * toa > 2 * 30000 * 0.7  # and the budget is used, not wasted


def test_frame_larger_than_the_budget_is_never_allowed():
    a = Airtime(DEFAULT, fair_use_s_per_day=4, now=T0)
    assert a.wait_s(51, 0, T0) == -1


def test_time_sync_shifts_deadlines():
    a = Airtime(DEFAULT, fair_use_s_per_day=0, now=T0)
    a.charge(51, 0, T0)
    w = a.wait_s(51, 0, T0)
    a.shift(-3600)
    assert a.wait_s(51, 0, T0 - 3600) == w


def readings(n):
    return [{"t": T0 + 300 * i, "pm2_5": 10.0 + i, "temperature": 20.0, "humidity": 50.0} for i in range(n)]


def test_pack_puts_live_first_and_fills_the_payload():
    log = Datalog(tmpdir("up"), 16384)
    for r in readings(10):
        r["seq"] = log.append(r)
    live = list(log.read(10, 10))[0]
    backlog = list(log.read(1, 9))
    frame, seqs = pack(live, backlog, 51, T0 + 3000)
    assert len(frame) <= 51 and seqs[0] == 10 and seqs[1:] == list(range(1, len(seqs)))
    got = payload.decode(frame, {"seq": 10, "t": T0 + 3000})
    assert [r["seq"] for r in got] == seqs and got[0]["t"] == T0 + 2700
    big, seqs2 = pack(live, backlog, 222, T0 + 3000)
    assert len(seqs2) == 10


def test_backlog_cursor_requests_and_acks():
    log = Datalog(tmpdir("up"), 16384)
    for r in readings(8):
        log.append(r)
    b = Backlog(1)
    b.sent([8], log)  # live 8 went up while 1..7 wait
    assert [r["seq"] for r in b.candidates(log, 0, 16)] == [1, 2, 3, 4, 5, 6, 7]
    b.sent([1, 2, 3], log)
    assert b.cursor == 4
    b.acked(5)
    assert b.cursor == 6 and [r["seq"] for r in b.candidates(log, 0, 16)] == [6, 7]
    b.sent([6, 7], log)
    assert b.cursor == 9 and b.candidates(log, 0, 16) == []
    b.request(2, 4)
    assert [r["seq"] for r in b.candidates(log, 0, 16)] == [2, 3, 4]
    b.sent([2, 3], log)
    assert b.ranges == [[4, 4]]
    b.acked(4)
    assert b.ranges == []


def test_backlog_state_round_trips():
    b = Backlog(5)
    b.request(1, 3)
    b.sent_ahead = [9]
    c = Backlog()
    c.restore(b.state())
    assert c.state() == b.state()


def test_requests_for_readings_not_held_are_dropped():
    log = Datalog(tmpdir("up"), 16384)
    for r in readings(3):
        log.append(r)
    b = Backlog(4)
    b.request(50, 60)  # never measured (or skipped after a power loss)
    b.request(2, 2)
    assert [r["seq"] for r in b.candidates(log, 0, 16)] == [2]
    assert b.ranges == [[2, 2]] and b.unavailable == 1


def test_a_request_with_evicted_head_completes():
    log = Datalog(tmpdir("up"), 1024)
    for r in readings(120):
        log.append(r)
    first = log.first_seq
    assert first > 10
    b = Backlog(121)
    b.request(first - 5, first + 2)  # the first five are evicted
    got = [r["seq"] for r in b.candidates(log, 0, 16)]
    assert got == [first, first + 1, first + 2]
    b.sent(got, log)
    assert b.ranges == [] and b.candidates(log, 0, 16) == []


EUI_A = bytes.fromhex("70b3d57ed0000001")
EUI_B = bytes.fromhex("70b3d57ed0000002")


def test_first_join_is_at_a_random_moment_of_the_window_for_each_node():
    firsts = [JoinPolicy(bytes((0x70, 0xB3, 0, 0, 0, 0, i >> 8, i & 0xFF)), T0, 300).next_at for i in range(200)]
    assert all(T0 <= t < T0 + 300 for t in firsts)
    assert len(set(firsts)) > 100  # 200 nodes powered together: spread, not in one second
    assert max(firsts) - min(firsts) > 250
    assert JoinPolicy(EUI_A, T0, 300).next_at == JoinPolicy(EUI_A, T0, 300).next_at  # reproducible
    assert JoinPolicy(EUI_A, T0, 0).next_at == 0  # no window: at once


def test_join_back_off_doubles_with_jitter_up_to_the_maximum():
    a, b = JoinPolicy(EUI_A, T0, 0, 240), JoinPolicy(EUI_B, T0, 0, 240)
    t = T0
    waits_a, waits_b = [], []
    for _ in range(6):
        a.failed(t)
        b.failed(t)
        waits_a.append(a.next_at - t)
        waits_b.append(b.next_at - t)
    bounds = [15, 30, 60, 120, 240, 240]
    for w, hi in zip(waits_a + waits_b, bounds + bounds):
        assert hi // 2 <= w <= hi
    assert waits_a != waits_b  # two nodes that failed together do not retry together
    a.joined()
    a.failed(t)
    assert 7 <= a.next_at - t <= 15


def test_join_requests_keep_the_aggregated_join_duty_cycle():
    p = JoinPolicy(EUI_A, T0, 0)
    toa = JoinPolicy.toa_ms(0)  # a 23-byte join-request at SF12: about 1.48 s
    assert 1400 < toa < 1600
    t, sent = T0, []
    while t < T0 + 3 * 86400:
        w = p.wait_s(0, t)
        assert w >= 0
        if w == 0:
            p.sent(0, t)
            sent.append(t)
            t += 10
        else:
            t += w
    first_hour = [s for s in sent if s < T0 + 3600]
    hours_1_11 = [s for s in sent if T0 + 3600 <= s < T0 + 11 * 3600]
    assert len(first_hour) * toa <= 36000 and len(hours_1_11) * toa <= 36000
    late = [s for s in sent if s >= T0 + 11 * 3600]
    for i in range(len(late)):
        assert len([s for s in late[i:] if s < late[i] + 86400]) * toa <= 8700
    assert len(first_hour) == 36000 // toa  # the budget is usable, not only respected


def test_join_policy_state_round_trips():
    p = JoinPolicy(EUI_A, T0, 300)
    p.sent(0, T0 + 5)
    p.failed(T0 + 12)
    q = JoinPolicy(EUI_B, T0 + 900, 300)
    q.restore(p.state())
    assert q.state() == p.state()
    p.failed(T0 + 60)
    q.failed(T0 + 60)
    assert q.next_at == p.next_at  # the same random sequence goes on
