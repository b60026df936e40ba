"""ADR: the MAC command codecs against spec layouts and known frames, and the step table."""

import pytest

from gateway.lorawan import adr, maccmd
from gateway.lorawan.errors import MACCommandError


def test_link_adr_req_bytes():
    # DR5, TXPower 2, channels 0-7 on, ChMaskCntl 0, NbTrans 1 -> CID | 0x52 | FF 00 | 0x01
    req = maccmd.LinkADRReq(dr=5, tx_power=2, ch_mask=0x00FF, nb_trans=1)
    assert maccmd.build_link_adr_req(req) == bytes.fromhex("0352ff0001")
    assert maccmd.parse_link_adr_req(bytes.fromhex("52ff0001")) == req
    # ChMaskCntl 6 (all channels on) with NbTrans 3, DR0, max power
    all_on = maccmd.LinkADRReq(dr=0, tx_power=0, ch_mask=0, ch_mask_cntl=6, nb_trans=3)
    assert maccmd.build_link_adr_req(all_on) == bytes.fromhex("0300000063")


@pytest.mark.parametrize(
    "payload",
    [
        "80000000",  # DR8: the LoRaWAN certification's "incorrect MAC command" frame 0380000000
        "08070001",  # TXPower 8 > EU868 maximum index 7
        "50000001",  # ChMask 0 under ChMaskCntl 0: no channel left
        "50000101",  # channel 8 not defined (3 defaults + 5 CFList = channels 0..7)
        "50070051",  # ChMaskCntl 5 is RFU in EU868
        "500700c1",  # RFU bit of Redundancy set
        "500700",  # truncated
    ],
)
def test_link_adr_req_outside_region_refused(payload):
    with pytest.raises(MACCommandError):
        maccmd.parse_link_adr_req(bytes.fromhex(payload))


def test_link_adr_req_never_built_outside_region():
    for bad in (
        maccmd.LinkADRReq(dr=7, tx_power=0, ch_mask=7),
        maccmd.LinkADRReq(dr=5, tx_power=8, ch_mask=7),
        maccmd.LinkADRReq(dr=5, tx_power=0, ch_mask=0x100),
    ):
        with pytest.raises(MACCommandError):
            maccmd.build_link_adr_req(bad)


def test_link_adr_ans_status_bits():
    assert maccmd.parse_link_adr_ans(b"\x07") == maccmd.LinkADRAns(True, True, True)
    assert maccmd.parse_link_adr_ans(b"\x03") == maccmd.LinkADRAns(False, True, True)  # power refused
    assert not maccmd.parse_link_adr_ans(b"\x03").accepted
    assert maccmd.build_link_adr_ans(maccmd.LinkADRAns(False, True, True)) == b"\x03\x03"
    with pytest.raises(MACCommandError):
        maccmd.parse_link_adr_ans(b"\x08")


def test_dev_status_ans_margin_is_six_bit_signed():
    assert maccmd.parse_dev_status_ans(bytes((254, 0x1F))) == maccmd.DevStatusAns(254, 31)
    assert maccmd.parse_dev_status_ans(bytes((0, 0x20))) == maccmd.DevStatusAns(0, -32)
    assert maccmd.parse_dev_status_ans(bytes((255, 0x3F))) == maccmd.DevStatusAns(255, -1)
    assert maccmd.build_dev_status_ans(maccmd.DevStatusAns(128, -5)) == bytes((6, 128, 0x3B))
    with pytest.raises(MACCommandError):
        maccmd.parse_dev_status_ans(bytes((1, 0x40)))


def test_cflist_eu868_five_channels():
    # 867.1..867.9 MHz in 100 Hz units, 3 bytes LE each, then CFListType 0 (the EU868 list TTN sends)
    expected = bytes.fromhex("184f84e85684b85e84886684586e8400")
    assert maccmd.build_cflist() == expected
    assert maccmd.parse_cflist(expected) == maccmd.EU868_CFLIST_CHANNELS
    assert maccmd.parse_cflist(bytes.fromhex("184f84") + bytes(13)) == (867100000,)
    with pytest.raises(MACCommandError):
        maccmd.parse_cflist(expected[:15] + b"\x01")
    with pytest.raises(MACCommandError):
        maccmd.build_cflist((915000000,))


def test_fopts_never_exceed_15_bytes():
    cmds = [bytes(5), bytes(5), bytes(3), bytes(1)]
    fopts, rest = maccmd.fit_fopts(cmds, already=bytes(3))
    assert len(fopts) == 13 and rest == [bytes(3), bytes(1)]
    fopts, rest = maccmd.fit_fopts([bytes(5)] * 4)
    assert len(fopts) == 15 and len(rest) == 1


@pytest.mark.parametrize(
    "max_snr, dr, tx, expected",
    [
        # SF12 (needs -20 dB), SNR 5: 5 + 20 - 10 = 15 dB -> nstep 5 -> DR0..DR5, power unchanged
        (5.0, 0, 0, (5, 0)),
        # SNR 10: 20 dB -> nstep 6 -> DR5 then one power step
        (10.0, 0, 0, (5, 1)),
        # SNR -12 at SF12: -2 dB -> nstep -1; already at max power: unchanged, DR never lowered
        (-12.0, 0, 0, (0, 0)),
        # SF7 (needs -7.5), SNR 3: 0.5 dB -> nstep 0
        (3.0, 5, 0, (5, 0)),
        # SF7, SNR 9.6: 7.1 dB -> nstep 2 -> TXPower 0 -> 2
        (9.6, 5, 0, (5, 2)),
        # SF7 at TXPower 3, SNR -1: -3.5 dB -> nstep -2 -> TXPower 1 (more power)
        (-1.0, 5, 3, (5, 1)),
        # SF10 (needs -15), SNR -2: 3 dB -> nstep 1 -> DR3
        (-2.0, 2, 0, (3, 0)),
        # a very strong link stops at the region's lowest power, TXPower 7
        (40.0, 0, 0, (5, 7)),
    ],
)
def test_adr_step_table(max_snr, dr, tx, expected):
    assert adr.ideal(dr, tx, adr.nstep(max_snr, dr)) == expected


def test_adr_uses_best_of_last_20():
    st = adr.AdrState()
    st.observe(0, 5.0)  # would give nstep 5, but is pushed out by 20 weak frames
    for _ in range(20):
        st.observe(0, -9.0)  # -9 + 20 - 10 = 1 dB -> nstep 0
    assert st.decide() is None
    st.observe(0, -6.0)  # 4 dB -> nstep 1
    req = st.decide()
    assert req is not None and (req.dr, req.tx_power) == (1, 0)
    assert st.decide() is None  # one request in flight at a time


def test_adr_refused_power_not_asked_again():
    st = adr.AdrState(dr=0)
    st.observe(0, 20.0)  # 20 + 20 - 10 = 30 dB -> nstep 10 -> DR5 and TXPower 5
    req = st.decide()
    assert req is not None and (req.dr, req.tx_power) == (5, 5)
    st.answered(maccmd.LinkADRAns(power_ack=False, dr_ack=True, ch_mask_ack=True))
    assert (st.dr, st.tx_power, st.rejects) == (0, 0, 1)  # nothing applied
    st.observe(0, 20.0)
    again = st.decide()
    assert again is not None and (again.dr, again.tx_power) == (5, 0)  # the data rate alone
    st.answered(maccmd.LinkADRAns(True, True, True))
    for _ in range(20):
        st.observe(5, 25.0)
        assert st.decide() is None  # the power is never asked again


def test_adr_refused_data_rate_keeps_the_device_where_it_is():
    st = adr.AdrState(dr=2)
    st.observe(2, 0.0)  # 0 + 15 - 10 = 5 dB -> nstep 1 -> DR3
    st.decide()
    st.answered(maccmd.LinkADRAns(power_ack=True, dr_ack=False, ch_mask_ack=True))
    st.observe(2, 0.0)
    req = st.decide()  # the step goes to power instead; the refused data rate is not asked again
    assert req is not None and (req.dr, req.tx_power) == (2, 1) and st.max_dr == 2


def test_adr_accept_applies_and_dr_not_lowered_by_command():
    st = adr.AdrState()
    st.observe(0, 5.0)
    st.decide()
    st.answered(maccmd.LinkADRAns(True, True, True))
    assert (st.dr, st.tx_power) == (5, 0)
    for _ in range(20):
        st.observe(5, -20.0)  # the link got much worse: more power, never a lower data rate
    assert st.decide() is None


def test_downlink_duty_cycle_on_the_concentrator_clock():
    from gateway.config import LorawanSection
    from gateway.downlinks import RxContext, Scheduler
    from gateway.metrics import Metrics

    s = Scheduler(LorawanSection(duty_clock="concentrator"), None, Metrics(), lambda gw, pkt: None)  # type: ignore[arg-type]

    def at(tmst, gw="gw"):
        return s._duty_now(RxContext(gw, tmst, 868100000, "SF7BW125", -60.0, 5.0, 0.0), now=123.0)

    assert at(4_000_000_000) == 4000.0
    assert at(1_000_000) == (2**32 + 1_000_000) / 1e6  # wrapped: the clock runs on
    assert at(4_200_000_000) == 4200.0  # a late frame from before the wrap stays before it
    assert at(5_000_000) == (2**32 + 5_000_000) / 1e6
    assert at(7, gw="other") == 7e-6  # each concentrator has its own counter
    assert Scheduler(LorawanSection(), None, Metrics(), lambda gw, pkt: None)._duty_now(  # type: ignore[arg-type]
        RxContext("gw", 5, 868100000, "SF7BW125", -60.0, 5.0, 0.0), now=123.0
    ) == 123.0  # by default the agent's clock


def test_mac_answers_queue_whole_commands_within_an_fport_0_payload():
    from gateway.config import LorawanSection
    from gateway.downlinks import Scheduler
    from gateway.metrics import Metrics

    s = Scheduler(LorawanSection(), None, Metrics(), lambda gw, pkt: None)  # type: ignore[arg-type]
    time_ans = bytes.fromhex("0d0102030400")  # DeviceTimeAns, 6 bytes
    s.add_mac("d", time_ans * 3)  # 18 bytes: more than FOpts holds, kept whole for FPort 0
    assert s.queues["d"].mac == time_ans * 3
    s.add_mac("d", time_ans * 4 + bytes.fromhex("020c01"))  # 40 bytes at most: the 7th is dropped, not cut
    assert s.queues["d"].mac == time_ans * 6 + bytes.fromhex("020c01")
    s.add_mac("d", bytes.fromhex("0d01"))  # a truncated command is never queued
    assert len(s.queues["d"].mac) == 39


def test_loss_from_fcnt_gaps():
    assert adr.loss_percent(list(range(20))) == 0.0
    assert adr.loss_percent([0, 2, 4, 6, 8]) == pytest.approx(100 * 4 / 9)
    assert adr.loss_percent([65534, 65535, 1, 2]) == pytest.approx(20.0)  # across the 16-bit wrap


@pytest.mark.parametrize(
    "current, loss, expected",
    [
        # ChirpStack's default table: < 5 % one less, 5-10 % kept, 10-30 % one more, >= 30 % three
        (1, 0.0, 1), (2, 4.9, 1), (3, 4.9, 2),
        (1, 5.0, 1), (2, 9.9, 2), (3, 7.0, 3),
        (1, 10.0, 2), (2, 29.9, 3), (3, 20.0, 3),
        (1, 30.0, 3), (2, 80.0, 3),
    ],
)  # fmt: skip
def test_nb_trans_from_loss(current, loss, expected):
    assert adr.nb_trans(current, loss) == expected


def test_nb_trans_rides_the_link_adr_req_once_the_history_is_full():
    st = adr.AdrState(dr=5)
    for i in range(19):
        st.observe(5, 0.0, i * 2)  # every other frame lost; SF7 at SNR 0: nstep 0, nothing else to change
        assert st.decide() is None  # no loss figure before 20 uplinks
    st.observe(5, 0.0, 38)
    req = st.decide()
    assert req is not None and (req.dr, req.tx_power, req.nb_trans) == (5, 0, 3)
    assert maccmd.build_link_adr_req(req)[4] == 0x03  # Redundancy: ChMaskCntl 0, NbTrans 3
    st.answered(maccmd.LinkADRAns(True, True, True))
    assert st.nb_trans == 3 and not st.fcnts  # measured afresh with the new NbTrans
    for i in range(20):
        st.observe(5, 0.0, 100 + i)  # no loss now
    req = st.decide()
    assert req is not None and req.nb_trans == 2  # one less


def test_nb_trans_held_at_the_configured_maximum():
    st = adr.AdrState(dr=5)
    for i in range(20):
        st.observe(5, 0.0, i * 2)  # 49 % loss: ChirpStack's table says 3
    assert st.decide(max_nb_trans=1) is None  # [lorawan] nb_trans_max = 1 (the default): nothing to change
    req = st.decide(max_nb_trans=2)
    assert req is not None and req.nb_trans == 2
