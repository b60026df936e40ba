"""A simulated day at SF12 (DR0): no EU868 sub-band over its 1 % duty cycle, from the frames the
modem emulator actually put on air; and the fair-use budget held."""

from tests.firmware.nodekit import LORAWAN, Kit, config


def _run_day(tmp_path, **uplink):
    cfg = config(lorawan={**LORAWAN, "dr": 0}, uplink=uplink)
    k = Kit(tmp_path, cfg=cfg)
    for _ in range(288):
        k.node.run_interval()
    return k


def test_a_day_at_sf12_keeps_every_sub_band_under_one_percent(tmp_path):
    k = _run_day(tmp_path, fair_use_s_per_day=0)
    per_band: dict[int, int] = {}
    from edge import lora

    for _start, freq, airtime in k.modem.tx_log:
        b = lora.eu868_subband(freq)
        per_band[b] = per_band.get(b, 0) + airtime
    day_ms = 86400 * 1000
    assert per_band and all(ms <= day_ms // 100 for ms in per_band.values()), per_band
    # in any hour as well (ETSI EN 300 220 observes an hour)
    log = sorted(k.modem.tx_log)
    for i in range(len(log)):
        hour = sum(a for s, _, a in log[i:] if s < log[i][0] + 3600000)
        assert hour <= 36000 + log[i][2], hour
    # every reading of the day reached the network
    assert len(k.dev.readings) == 288


def test_a_day_at_sf12_within_the_fair_use_budget(tmp_path):
    k = _run_day(tmp_path, fair_use_s_per_day=30)
    total = sum(a for _, _, a in k.modem.tx_log)
    assert total <= 30000
    assert k.node.counters["budget_skips"] > 0
