# Board entry point: copied to the board as /main.py; MicroPython runs it after boot.
#
# A bad config never becomes a crash loop: the node prints every problem, blinks, and looks at the
# config file again each minute (fix it with mpremote; the node restarts itself once it is valid).
# An unexpected error is written to /crash.txt; after three in a row without a good interval in
# between (counted in RTC memory) the node idles an hour before it tries again.
import sys
import time

CONFIG = "config.json"
HW_DIR = "hw"
_IDLE_CHECK_S = 60
_MAX_CRASHES = 3


def _blink(machine, board, ms):
    pin = board.get("pins", {}).get("led") if board else None
    if pin is None:
        time.sleep_ms(ms)
        return
    led = machine.Pin(pin, machine.Pin.OUT)
    led.value(1)
    time.sleep_ms(100)
    led.value(0)
    time.sleep_ms(ms - 100)


def safe_idle(machine, problems, board=None, retry_after_s=0):
    """Print the problems and blink, never crash-looping. Without retry_after_s, restart as soon as
    the config file loads; with it, restart after that long. Never returns."""
    from firmware import config

    idle_s = 0
    while True:
        print("edge node idle:")
        for p in problems:
            print("  -", p)
        for _ in range(_IDLE_CHECK_S):
            _blink(machine, board, 1000)
        idle_s += _IDLE_CHECK_S
        if retry_after_s:
            if idle_s >= retry_after_s:
                machine.reset()
            continue
        try:
            config.load(CONFIG, HW_DIR)
            machine.reset()
        except config.ConfigError as e:
            problems = e.problems


def _crash_count(hal, delta):
    slot = hal.stash("crashes")
    if slot is None:
        return 0
    data = slot.load()
    n = data[0] if data else 0
    n = 0 if delta == 0 else min(255, n + delta)
    try:
        slot.save(bytes((n,)))
    except OSError:
        pass
    return n


def main():
    import machine

    from firmware import config
    from firmware.app import Node
    from firmware.board import BoardHAL

    try:
        cfg = config.load(CONFIG, HW_DIR)
    except config.ConfigError as e:
        safe_idle(machine, e.problems)
    hal = BoardHAL(cfg.board, machine)
    try:
        node = Node(hal, cfg)
        node.on_good_interval = lambda: _crash_count(hal, 0)
        node.run()
    except Exception as e:
        try:
            with open("/crash.txt", "a") as f:
                sys.print_exception(e, f)
        except OSError:
            pass
        if _crash_count(hal, 1) >= _MAX_CRASHES:
            safe_idle(machine, ["crashed %d times: %r (see /crash.txt)" % (_MAX_CRASHES, e)], cfg.board, 3600)
        time.sleep_ms(10000)
        machine.reset()


main()
