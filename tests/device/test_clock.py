from edge.clock import SystemClock, VirtualClock


def test_virtual_clock_moves_only_when_told():
    c = VirtualClock(unix_start=1000)
    t = c.ticks_ms()
    c.sleep_ms(1500)
    assert c.ticks_diff(c.ticks_ms(), t) == 1500
    assert c.time() == 1001


def test_virtual_ticks_wrap_like_micropython():
    c = VirtualClock(ms=(1 << 29) - 10)
    a = c.ticks_ms()
    c.advance(20)
    b = c.ticks_ms()
    assert b < a and c.ticks_diff(b, a) == 20 and c.ticks_diff(a, b) == -20
    assert c.ticks_add(a, 20) == b


def test_virtual_clock_listeners_and_set_time():
    c = VirtualClock(unix_start=5000)
    seen = []
    c.on_advance(seen.append)
    c.sleep_ms(250)
    c.sleep_ms(0)
    assert seen == [250]
    c.set_time(9000)
    assert c.time() == 9000


def test_system_clock_gives_unix_time_and_ticks():
    c = SystemClock()
    assert c.time() > 1700000000
    a = c.ticks_ms()
    c.sleep_ms(5)
    assert c.ticks_diff(c.ticks_ms(), a) >= 4
