"""gateway.lorawan against public vectors, the ChirpStack frame-counter table and round trips."""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import lorawan
from gateway.lorawan import crypto, mac

H = bytes.fromhex


# ---- DESIGN.md vectors --------------------------------------------------------------------------

CHIRP = dict(
    nwkskey=H("0102030405060708090a0b0c0d0e0f10"),
    appskey=H("100f0e0d0c0b0a090807060504030201"),
    phy=H("80040302010300000673070ae264d4f7e117d2c0"),
)
LORA_PACKET = dict(
    nwkskey=H("44024241ed4ce9a68c6a8bc055233fd3"),
    appskey=H("ec925802ae430ca77fd3dd73cb2cc588"),
    phy=H("40F17DBE4900020001954378762B11FF0D"),
)


def test_chirpstack_vector_builds_byte_exact():
    phy = lorawan.build_data_frame(
        nwkskey=CHIRP["nwkskey"],
        appskey=CHIRP["appskey"],
        dev_addr=H("01020304"),
        fcnt32=0,
        uplink=True,
        confirmed=True,
        fopts=H("067307"),
        fport=10,
        payload=H("01020304"),
    )
    assert phy == CHIRP["phy"]


def test_chirpstack_vector_parses_and_decrypts():
    f = lorawan.parse_phy(CHIRP["phy"])
    assert isinstance(f, lorawan.DataFrame)
    assert f.mtype == lorawan.MType.CONFIRMED_UP and f.uplink and f.confirmed
    assert f.dev_addr == H("01020304") and f.fcnt16 == 0 and f.fport == 10
    assert f.fopts == H("067307") and f.mic == H("e117d2c0")
    assert f.mic_ok(CHIRP["nwkskey"], 0)
    assert not f.mic_ok(CHIRP["nwkskey"], 1)
    assert f.decrypt(CHIRP["nwkskey"], CHIRP["appskey"], 0) == H("01020304")
    msg = CHIRP["phy"][:-4]
    assert lorawan.compute_mic(CHIRP["nwkskey"], H("01020304"), 0, True, msg) == H("e117d2c0")


def test_lora_packet_vector():
    f = lorawan.parse_phy(LORA_PACKET["phy"])
    assert isinstance(f, lorawan.DataFrame)
    assert f.mtype == lorawan.MType.UNCONFIRMED_UP
    assert f.dev_addr == H("49be7df1") and f.fcnt16 == 2 and f.fport == 1
    assert f.mic_ok(LORA_PACKET["nwkskey"], 2)
    assert f.decrypt(LORA_PACKET["nwkskey"], LORA_PACKET["appskey"], 2) == b"test"
    # the same call encrypts
    enc = lorawan.encrypt_frm_payload(LORA_PACKET["appskey"], H("49be7df1"), 2, True, b"test")
    assert enc == f.frm_payload


def test_zero_key_join_accept_vector():
    # lora-packet's join_accept_encrypt test: all-zero fields and AppKey.
    phy = lorawan.build_join_accept(bytes(16), 0, 0, bytes(4), 0, 0)
    assert phy == H("20e3de108795f776b8037610ef7869b5b3")
    ja = lorawan.decrypt_join_accept(bytes(16), phy)
    assert ja.mic == H("f86f0a91") and ja.cflist is None and ja.rx1_delay_s == 1


def test_join_request_parse_public_frame():
    req = lorawan.parse_phy(H("00DC0000D07ED5B3701E6FEDF57CEEAF0085CC587FE913"))
    assert isinstance(req, lorawan.JoinRequest)
    assert req.join_eui == H("70B3D57ED00000DC") and req.dev_eui == H("00AFEE7CF5ED6F1E")
    assert req.dev_nonce == 0xCC85


# ---- frame counters -----------------------------------------------------------------------------

FCNT_TABLE = [
    (1, 1, 1),
    (65536, 0, 65536),
    (65537, 1, 65537),
    (0, 1, 1),
    (65537, 2, 65538),
    (2, 1, 1),
    (65537, 0, 65536),
    (65536, 65535, 65535),
    (4294967295, 0, 0),
]


@pytest.mark.parametrize("next_expected,received,expected", FCNT_TABLE)
def test_fcnt_table(next_expected, received, expected):
    assert lorawan.infer_fcnt32(next_expected, received) == expected


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 2))
def test_fcnt_forward_gap_recovered(next_expected, gap):
    got = lorawan.infer_fcnt32(next_expected, (next_expected + gap) & 0xFFFF)
    assert got == (next_expected + gap) & 0xFFFFFFFF


# ---- crypto -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg,mac",
    [
        ("", "bb1d6929e95937287fa37d129b756746"),
        ("6bc1bee22e409f96e93d7e117393172a", "070a16b46b4d4144f79bdd9dd04a287c"),
    ],
)
def test_cmac_rfc4493_vectors(msg, mac):
    assert crypto.aes_cmac(H("2b7e151628aed2a6abf7158809cf4f3c"), H(msg)) == H(mac)


def test_encrypt_is_its_own_inverse_and_depends_on_direction():
    key, addr = os.urandom(16), H("26011bda")
    data = os.urandom(40)
    up = lorawan.encrypt_frm_payload(key, addr, 70000, True, data)
    assert lorawan.encrypt_frm_payload(key, addr, 70000, True, up) == data
    assert lorawan.encrypt_frm_payload(key, addr, 70000, False, data) != up
    assert lorawan.encrypt_frm_payload(key, addr, 70001, True, data) != up


def test_bad_key_sizes_are_typed():
    with pytest.raises(lorawan.BadKey):
        lorawan.encrypt_frm_payload(b"short", H("01020304"), 0, True, b"x")
    with pytest.raises(lorawan.BadKey):
        lorawan.compute_mic(bytes(16), b"\x01\x02", 0, True, b"x")
    with pytest.raises(lorawan.BadKey):
        lorawan.derive_session_keys(bytes(16), 1 << 24, 0, 0)


# ---- OTAA round trip ----------------------------------------------------------------------------


def test_otaa_round_trip_with_cflist():
    app_key, join_eui, dev_eui = os.urandom(16), H("70b3d57ed0000001"), H("0004a30b001c0530")
    req_phy = lorawan.build_join_request(app_key, join_eui, dev_eui, 0x1234)
    assert len(req_phy) == 23 and req_phy[1:9] == join_eui[::-1]
    req = lorawan.parse_join_request(req_phy, app_key)
    assert (req.join_eui, req.dev_eui, req.dev_nonce) == (join_eui, dev_eui, 0x1234)
    with pytest.raises(lorawan.MICError):
        lorawan.parse_join_request(req_phy, os.urandom(16))

    cflist = bytes(range(16))
    acc_phy = lorawan.build_join_accept(app_key, 0xABCDEF, 0x000013, H("26011bda"), 0x03, 1, cflist)
    assert len(acc_phy) == 33
    assert isinstance(lorawan.parse_phy(acc_phy), lorawan.EncryptedJoinAccept)
    ja = lorawan.decrypt_join_accept(app_key, acc_phy)
    assert (ja.join_nonce, ja.net_id, ja.dev_addr) == (0xABCDEF, 0x13, H("26011bda"))
    assert (ja.dl_settings, ja.rx_delay, ja.cflist) == (0x03, 1, cflist)
    with pytest.raises(lorawan.MICError):
        lorawan.decrypt_join_accept(os.urandom(16), acc_phy)

    nwk, app = lorawan.derive_session_keys(app_key, ja.join_nonce, ja.net_id, req.dev_nonce)
    assert nwk != app and len(nwk) == len(app) == 16
    up = lorawan.build_data_frame(
        nwkskey=nwk, appskey=app, dev_addr=ja.dev_addr, fcnt32=0, uplink=True, fport=1, payload=b"hi"
    )
    f = lorawan.parse_phy(up)
    assert isinstance(f, lorawan.DataFrame) and f.mic_ok(nwk, 0) and f.decrypt(nwk, app, 0) == b"hi"


def test_session_key_derivation_layout():
    app_key = os.urandom(16)
    nwk, app = lorawan.derive_session_keys(app_key, 0x010203, 0x040506, 0x0708)
    tail = H("030201") + H("060504") + H("0807")
    assert nwk == crypto.aes_encrypt(app_key, b"\x01" + tail + bytes(7))
    assert app == crypto.aes_encrypt(app_key, b"\x02" + tail + bytes(7))


# ---- building and parsing -----------------------------------------------------------------------


def test_downlink_fport0_and_fopts_rules():
    kw = dict(nwkskey=os.urandom(16), appskey=os.urandom(16), dev_addr=H("01020304"), fcnt32=5, uplink=False)
    with pytest.raises(lorawan.BadFrame):
        lorawan.build_data_frame(**kw, fport=0, payload=b"\x02", fopts=b"\x02")
    with pytest.raises(lorawan.BadFrame):
        lorawan.build_data_frame(**kw, payload=b"x")
    with pytest.raises(lorawan.BadFrame):
        lorawan.build_data_frame(**kw, fopts=bytes(16))
    phy = lorawan.build_data_frame(**kw, fport=0, payload=H("0200"), ack=True, fpending=True)
    f = lorawan.parse_phy(phy)
    assert isinstance(f, lorawan.DataFrame)
    assert f.mtype == lorawan.MType.UNCONFIRMED_DOWN and f.ack and f.fpending and not f.uplink
    assert f.decrypt(kw["nwkskey"], kw["appskey"], 5) == H("0200")
    assert f.mic_ok(kw["nwkskey"], 5)


def test_frame_without_fport():
    k = os.urandom(16)
    phy = lorawan.build_data_frame(
        nwkskey=k, appskey=None, dev_addr=H("01020304"), fcnt32=1, uplink=True, fopts=H("02")
    )
    f = lorawan.parse_phy(phy)
    assert isinstance(f, lorawan.DataFrame) and f.fport is None and f.frm_payload == b"" and f.fopts == H("02")


@pytest.mark.parametrize(
    "hexphy,error",
    [
        ("", lorawan.FrameTooShort),
        ("41" + "00" * 20, lorawan.UnsupportedMajor),
        ("40010203", lorawan.FrameTooShort),
        ("40" + "01020304" + "05" + "0000" + "0000" + "00000000", lorawan.FrameTooShort),  # FOptsLen 5, 2 bytes
        ("40" + "01020304" + "01" + "0000" + "02" + "00" + "aa" + "00000000", lorawan.BadFrame),  # FOpts + FPort 0
        ("e0" + "00" * 10, lorawan.UnsupportedMType),
        ("c0" + "00" * 22, lorawan.UnsupportedMType),
        ("00" + "00" * 10, lorawan.FrameTooShort),
        ("00" + "00" * 30, lorawan.FrameTooLong),
        ("20" + "00" * 20, lorawan.BadFrame),
        ("40" + "00" * 300, lorawan.FrameTooLong),
    ],
)
def test_malformed_frames_raise_typed_errors(hexphy, error):
    with pytest.raises(error):
        lorawan.parse_phy(H(hexphy))


@given(st.binary(max_size=300))
def test_parse_phy_never_raises_anything_else(data):
    try:
        frame = lorawan.parse_phy(data)
    except lorawan.LoRaWANError:
        return
    assert frame.phy == data


@given(st.binary(min_size=12, max_size=60), st.integers(0, 59), st.integers(0, 255))
def test_mutated_frames_fail_mic_or_parse(base, pos, value):
    k = bytes(16)
    phy = lorawan.build_data_frame(
        nwkskey=k, appskey=k, dev_addr=H("01020304"), fcnt32=9, uplink=True, fport=1, payload=base[:40]
    )
    pos %= len(phy)
    if phy[pos] == value:
        return
    bad = phy[:pos] + bytes((value,)) + phy[pos + 1 :]
    try:
        f = lorawan.parse_phy(bad)
    except lorawan.LoRaWANError:
        return
    assert not (isinstance(f, lorawan.DataFrame) and f.dev_addr == H("01020304") and f.mic_ok(k, 9))


# ---- MAC commands -------------------------------------------------------------------------------


def test_mac_commands_parse_and_answer():
    cmds = mac.parse_uplink_commands(H("02" + "0d" + "0601ff" + "0307"))
    assert [c.name for c in cmds] == ["LinkCheckReq", "DeviceTimeReq", "DevStatusAns", "LinkADRAns"]
    out = mac.answers(cmds, snr_db=5.0, sf=7, gateway_count=2, unix_time=1763800000.5)
    assert out[:3] == H("020c02")  # margin 5 - (-7.5) = 12 dB, 2 gateways
    assert out[3] == 0x0D
    gps = int.from_bytes(out[4:8], "little")
    assert gps == 1763800000 - 315964800 + 18 and out[8] == 128
    with pytest.raises(lorawan.MACCommandError):
        mac.parse_uplink_commands(H("06ff"))
    with pytest.raises(lorawan.MACCommandError):
        mac.parse_uplink_commands(H("7f"))


def _spec_frm_and_mic(key, nwkskey, dev_addr_le, fcnt, direction, msg_head, plain):
    """FRMPayload encryption and MIC written out from LoRaWAN 1.0.x §4.3.3 and §4.4 with the
    cryptography package directly (AES-ECB blocks A_i, CMAC over B0 | msg), not gateway.lorawan."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.cmac import CMAC

    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    stream = b"".join(
        enc.update(bytes([1, 0, 0, 0, 0, direction]) + dev_addr_le + fcnt.to_bytes(4, "little") + bytes([0, i]))
        for i in range(1, len(plain) // 16 + 2)
    )
    frm = bytes(p ^ s for p, s in zip(plain, stream, strict=False))
    msg = msg_head + frm
    c = CMAC(algorithms.AES(nwkskey))
    c.update(bytes([0x49, 0, 0, 0, 0, direction]) + dev_addr_le + fcnt.to_bytes(4, "little") + bytes([0, len(msg)]))
    c.update(msg)
    return msg + c.finalize()[:4]


def test_mac_commands_on_fport_0_are_encrypted_with_the_nwkskey_both_ways():
    nwk, app, addr = CHIRP["nwkskey"], CHIRP["appskey"], H("01020304")
    # downlink, FCntDown 5: LinkADRReq (DR5, TXPower 2, channels 0-7, NbTrans 1) and DevStatusReq
    cmds = H("0352ff000106")
    head = H("60") + addr[::-1] + H("00") + (5).to_bytes(2, "little") + H("00")  # no FOpts, FPort 0
    expected = _spec_frm_and_mic(nwk, nwk, addr[::-1], 5, 1, head, cmds)
    assert expected == H("6004030201000500") + expected[8:]  # MHDR, DevAddr, FCtrl, FCnt, FPort 0
    assert expected.hex() == "60040302010005000047d4c19d41e9795a8a59"
    phy = lorawan.build_data_frame(nwkskey=nwk, appskey=app, dev_addr=addr, fcnt32=5, uplink=False, fport=0,
                                   payload=cmds)  # fmt: skip
    assert phy == expected
    f = lorawan.parse_phy(phy)
    assert f.fport == 0 and f.decrypt(nwk, app, 5) == cmds
    # uplink, FCntUp 7: LinkADRAns (all ACK) and DevStatusAns (battery 200, margin 8) on FPort 0
    answers = H("030706c808")
    head = H("40") + addr[::-1] + H("00") + (7).to_bytes(2, "little") + H("00")
    expected = _spec_frm_and_mic(nwk, nwk, addr[::-1], 7, 0, head, answers)
    phy = lorawan.build_data_frame(nwkskey=nwk, appskey=None, dev_addr=addr, fcnt32=7, uplink=True, fport=0,
                                   payload=answers)  # fmt: skip
    assert phy == expected
    f = lorawan.parse_phy(phy)
    assert [c.name for c in mac.parse_uplink_commands(f.decrypt(nwk, app, 7))] == ["LinkADRAns", "DevStatusAns"]
    with pytest.raises(lorawan.LoRaWANError):  # MAC commands in FOpts and on FPort 0 at once
        lorawan.build_data_frame(nwkskey=nwk, appskey=app, dev_addr=addr, fcnt32=8, uplink=True, fport=0,
                                 payload=answers, fopts=H("02"))  # fmt: skip
