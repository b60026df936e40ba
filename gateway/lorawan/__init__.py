"""LoRaWAN 1.0.x for the gateway agent and the simulator's modem emulator.

Byte order: DevAddr, DevEUI and JoinEUI are bytes in display order (MSB first, as printed:
``bytes.fromhex("01020304")``); keys are 16 bytes; JoinNonce, NetID, DevNonce and frame counters
are integers. See docs/gateway.md.
"""

from gateway.lorawan.crypto import aes_cmac, compute_mic, derive_session_keys, encrypt_frm_payload, join_mic
from gateway.lorawan.errors import (
    BadFrame,
    BadKey,
    FrameTooLong,
    FrameTooShort,
    LoRaWANError,
    MACCommandError,
    MICError,
    UnsupportedMajor,
    UnsupportedMType,
)
from gateway.lorawan.fcnt import infer_fcnt32
from gateway.lorawan.frames import (
    DataFrame,
    EncryptedJoinAccept,
    Frame,
    JoinAccept,
    JoinRequest,
    MType,
    build_data_frame,
    build_join_accept,
    build_join_request,
    decrypt_join_accept,
    parse_join_request,
    parse_phy,
)

__all__ = [
    "BadFrame",
    "BadKey",
    "DataFrame",
    "EncryptedJoinAccept",
    "Frame",
    "FrameTooLong",
    "FrameTooShort",
    "JoinAccept",
    "JoinRequest",
    "LoRaWANError",
    "MACCommandError",
    "MICError",
    "MType",
    "UnsupportedMType",
    "UnsupportedMajor",
    "aes_cmac",
    "build_data_frame",
    "build_join_accept",
    "build_join_request",
    "compute_mic",
    "decrypt_join_accept",
    "derive_session_keys",
    "encrypt_frm_payload",
    "infer_fcnt32",
    "join_mic",
    "parse_join_request",
    "parse_phy",
]
