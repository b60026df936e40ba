"""``edge lorawan decode HEX``: a LoRaWAN frame as JSON, for technicians debugging a device."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

GROUP = "lorawan"


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print("error: " + message, file=sys.stderr)
    return code


def _hex(text: str | None, n: int | None, name: str) -> bytes | None:
    if text is None:
        return None
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise ValueError("%s is not hexadecimal" % name) from None
    if n is not None and len(data) != n:
        raise ValueError("%s must be %d hex digits" % (name, 2 * n))
    return data


_DATA_NAMES = {2: "UnconfirmedDataUp", 3: "UnconfirmedDataDown", 4: "ConfirmedDataUp", 5: "ConfirmedDataDown"}


def decode(
    phy: bytes, nwkskey: bytes | None, appskey: bytes | None, app_key: bytes | None, fcnt_next: int
) -> dict[str, Any]:
    from gateway import lorawan

    frame = lorawan.parse_phy(phy)
    if isinstance(frame, lorawan.JoinRequest):
        out: dict[str, Any] = {
            "mtype": "JoinRequest",
            "join_eui": frame.join_eui.hex(),
            "dev_eui": frame.dev_eui.hex(),
            "dev_nonce": frame.dev_nonce,
            "mic": frame.mic.hex(),
        }
        if app_key is not None:
            out["mic_ok"] = frame.mic_ok(app_key)
        return out
    if isinstance(frame, lorawan.EncryptedJoinAccept):
        if app_key is None:
            return {"mtype": "JoinAccept", "encrypted": True, "hint": "give --app-key to decrypt"}
        try:
            ja = lorawan.decrypt_join_accept(app_key, phy)
        except lorawan.MICError:
            return {"mtype": "JoinAccept", "mic_ok": False}
        return {
            "mtype": "JoinAccept",
            "join_nonce": ja.join_nonce,
            "net_id": "%06x" % ja.net_id,
            "dev_addr": ja.dev_addr.hex(),
            "dl_settings": ja.dl_settings,
            "rx_delay": ja.rx_delay,
            "cflist": ja.cflist.hex() if ja.cflist else None,
            "mic": ja.mic.hex(),
            "mic_ok": True,
        }
    assert isinstance(frame, lorawan.DataFrame)
    fcnt32 = lorawan.infer_fcnt32(fcnt_next, frame.fcnt16) if fcnt_next else frame.fcnt16
    out = {
        "mtype": _DATA_NAMES[frame.mtype],
        "dev_addr": frame.dev_addr.hex(),
        "adr": frame.adr,
        "ack": frame.ack,
        "fcnt": fcnt32,
        "fopts": frame.fopts.hex(),
        "fport": frame.fport,
        "payload": frame.frm_payload.hex(),
        "encrypted": True,
        "mic": frame.mic.hex(),
        "mic_ok": None,
    }
    if nwkskey is not None:
        out["mic_ok"] = frame.mic_ok(nwkskey, fcnt32)
        key = nwkskey if frame.fport == 0 else appskey
        if key is not None and frame.fport is not None:
            out["payload"] = lorawan.encrypt_frm_payload(
                key, frame.dev_addr, fcnt32, frame.uplink, frame.frm_payload
            ).hex()
            out["encrypted"] = False
    return out


def cmd_decode(args: argparse.Namespace) -> int:
    from gateway import lorawan

    text = "".join((sys.stdin.read() if args.hex == "-" else args.hex).split())
    try:
        phy = _hex(text, None, "frame")
        nwk = _hex(args.nwkskey, 16, "--nwkskey")
        app = _hex(args.appskey, 16, "--appskey")
        app_key = _hex(args.app_key, 16, "--app-key")
    except ValueError as e:
        return _fail(str(e))
    assert phy is not None
    try:
        out = decode(phy, nwk, app, app_key, args.fcnt_next)
    except lorawan.LoRaWANError as e:
        return _fail("%s: %s" % (type(e).__name__, e))
    print(json.dumps(out, indent=1))
    return EXIT_OK if out.get("mic_ok") is not False else EXIT_FAILURE


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decode", help="decode a PHYPayload (hex) and print it as JSON")
    p.add_argument("hex", help="PHYPayload as hex ('-' reads stdin)")
    p.add_argument("--nwkskey", help="NwkSKey (checks the MIC, decrypts FPort 0)")
    p.add_argument("--appskey", help="AppSKey (decrypts the application payload)")
    p.add_argument("--app-key", help="AppKey, for join-requests and join-accepts")
    p.add_argument("--fcnt-next", type=int, default=0, help="next expected FCnt, to infer the 32-bit counter")
    p.set_defaults(func=cmd_decode)
