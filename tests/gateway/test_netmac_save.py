"""Which devices' ADR/DevStatus records the network hands to the registry, and when.

Histories and DevStatus times change with nearly every uplink: saved only by a full save (periodic,
and at stop). What a device answered (a power it took, a data rate or power it refused) is saved by
the next partial save, so a crash does not make the network ask it again.
"""

import json

from gateway.config import LorawanSection
from gateway.lorawan import maccmd
from gateway.lorawan.frames import DataFrame, MType
from gateway.lorawan.mac import MACCommand
from gateway.metrics import Metrics
from gateway.netmac import NetworkMAC

EUI = "0004a30b001c0530"


def uplink(fcnt):
    return DataFrame(MType.UNCONFIRMED_UP, bytes(4), True, False, False, False, fcnt, b"", 1, b"", bytes(4), b"")


def test_heard_devices_wait_for_a_full_save_their_answers_do_not(tmp_path):
    net = NetworkMAC(LorawanSection(), Metrics(tmp_path / "metrics.json"))
    answers = []
    for fcnt in range(20):  # a strong link at SF12: the network asks for DR5 and less power
        answers = net.commands(EUI, uplink(fcnt), [], 12, 125000, 20.0, 1_800_000_000.0 + fcnt)
    assert any(a[0] == maccmd.LINK_ADR for a in answers)
    assert net.states(full=False) == {}  # heard, asked, a DevStatusReq out: nothing the device said yet
    refused = MACCommand(maccmd.LINK_ADR, "LinkADRAns", bytes([0b011]))  # power refused (bit 2 clear)
    net.commands(EUI, uplink(20), [refused], 12, 125000, 20.0, 1_800_000_020.0)
    saved = net.states(full=False)
    assert list(saved) == [EUI] and json.loads(saved[EUI])["adr"]["rejects"] == 1
    assert net.states(full=False) == {}  # handed out once
    net.commands(EUI, uplink(21), [], 12, 125000, 19.0, 1_800_000_021.0)
    assert net.states(full=False) == {}
    full = net.states(full=True)  # the periodic save takes the history with it
    assert json.loads(full[EUI])["adr"]["snr"][-1] == 19.0
    assert net.states(full=True) == {}  # nothing heard since


def test_restored_records_are_not_saved_again_until_heard(tmp_path):
    net = NetworkMAC(LorawanSection(), Metrics(tmp_path / "metrics.json"))
    for fcnt in range(3):
        net.commands(EUI, uplink(fcnt), [], 12, 125000, 5.0, 1_800_000_000.0 + fcnt)
    records = net.states(full=True)
    again = NetworkMAC(LorawanSection(), Metrics(tmp_path / "metrics2.json"))
    assert again.restore(records) == 1
    assert again.states(full=True) == {}
    again.commands(EUI, uplink(3), [], 12, 125000, 5.0, 1_800_000_003.0)
    assert again.states(full=False) == {} and list(again.states(full=True)) == [EUI]
