"""A minimal LoRaWAN network server on the radio side of modem emulators, for tests and benches
that drive nodes without the gateway agent: it answers join-requests, checks and decrypts uplinks
with gateway.lorawan, decodes the node payload like the gateway (ref = last seen seq, receive time)
and sends queued FPort 2 commands in RX1. The real gateway agent replaces it in the simulator.

It is the ``radio`` callable of LoRaE5Emulator: ``LoRaE5Emulator(clock, radio=network)``.
``drop`` (a set of uplink numbers, counted from 0 over all devices) loses frames on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge import payload
from gateway import lorawan
from gateway.lorawan import maccmd


@dataclass
class Device:
    app_key: bytes
    dev_addr: bytes = b""
    nwkskey: bytes = b""
    appskey: bytes = b""
    fcnt_up: int = 0  # next expected
    fcnt_down: int = 0
    last_seq: int | None = None
    readings: dict[int, dict] = field(default_factory=dict)  # seq -> reading
    queue: list[bytes] = field(default_factory=list)  # FPort 2 payloads to send
    mac_queue: list[bytes] = field(default_factory=list)  # FOpts to send, one downlink each
    fopts_up: list[bytes] = field(default_factory=list)  # FOpts of every uplink, in order
    adr_ack_reqs: int = 0
    cflist: bytes | None = None  # sent in the Join-Accept
    uplinks: int = 0
    bad_frames: int = 0


class LoopbackNetwork:
    def __init__(self, clock: Any, net_id: int = 0x13) -> None:
        self.clock = clock
        self.net_id = net_id
        self.devices: dict[bytes, Device] = {}  # DevEUI -> device
        self._by_addr: dict[bytes, Device] = {}
        self._join_nonce = 0
        self.drop: set[int] = set()
        self.frames = 0
        self.joins = 0

    def register(self, dev_eui: bytes, app_key: bytes) -> Device:
        dev = Device(app_key)
        self.devices[bytes(dev_eui)] = dev
        return dev

    def queue(self, dev_eui: bytes, command_payload: bytes) -> None:
        self.devices[bytes(dev_eui)].queue.append(command_payload)

    def __call__(self, modem: Any, phy: bytes, freq: int, dr: int, start_ms: int, airtime_ms: int) -> None:
        n = self.frames
        self.frames += 1
        if n in self.drop:
            return
        try:
            frame = lorawan.parse_phy(phy)
        except lorawan.LoRaWANError:
            return
        if isinstance(frame, lorawan.JoinRequest):
            self._join(modem, frame)
        elif isinstance(frame, lorawan.DataFrame) and frame.uplink:
            self._uplink(modem, frame)

    def _join(self, modem: Any, req: lorawan.JoinRequest) -> None:
        dev = self.devices.get(req.dev_eui)
        if dev is None or not req.mic_ok(dev.app_key):
            return
        self._join_nonce += 1
        dev_addr = (0x26000000 + len(self._by_addr) + 1).to_bytes(4, "big")
        accept = lorawan.build_join_accept(
            dev.app_key, self._join_nonce, self.net_id, dev_addr, 0, 1, cflist=dev.cflist
        )
        dev.nwkskey, dev.appskey = lorawan.derive_session_keys(
            dev.app_key, self._join_nonce, self.net_id, req.dev_nonce
        )
        dev.dev_addr = dev_addr
        dev.fcnt_up = 0
        dev.fcnt_down = 0
        self._by_addr[dev_addr] = dev
        self.joins += 1
        modem.deliver(accept)

    def _uplink(self, modem: Any, frame: lorawan.DataFrame) -> None:
        dev = self._by_addr.get(frame.dev_addr)
        if dev is None:
            return
        fcnt32 = lorawan.infer_fcnt32(dev.fcnt_up, frame.fcnt16)
        if not frame.mic_ok(dev.nwkskey, fcnt32):
            dev.bad_frames += 1
            return
        dev.fcnt_up = fcnt32 + 1
        dev.uplinks += 1
        # the MAC commands of the uplink: FOpts, or the payload on FPort 0 (under the NwkSKey)
        dev.fopts_up.append(frame.decrypt(dev.nwkskey, dev.appskey, fcnt32) if frame.fport == 0 else frame.fopts)
        dev.adr_ack_reqs += frame.adr_ack_req
        if frame.fport == 1:
            data = frame.decrypt(dev.nwkskey, dev.appskey, fcnt32)
            ref = {"seq": dev.last_seq if dev.last_seq is not None else 0, "t": int(self.clock.time())}
            try:
                readings = payload.decode(data, ref)
            except ValueError:
                dev.bad_frames += 1
                readings = []
            for r in readings:
                dev.readings[r["seq"]] = r
                if dev.last_seq is None or r["seq"] > dev.last_seq:
                    dev.last_seq = r["seq"]
        if dev.queue or dev.mac_queue or frame.confirmed:
            body = dev.queue.pop(0) if dev.queue else b""
            fopts = dev.mac_queue.pop(0) if dev.mac_queue else b""
            port0 = len(fopts) > maccmd.FOPTS_MAX and not body  # too long for FOpts: alone on FPort 0
            down = lorawan.build_data_frame(
                nwkskey=dev.nwkskey,
                appskey=dev.appskey,
                dev_addr=dev.dev_addr,
                fcnt32=dev.fcnt_down,
                uplink=False,
                ack=frame.confirmed,
                fport=0 if port0 else 2 if body else None,
                payload=fopts if port0 else body,
                fopts=b"" if port0 else fopts,
            )
            dev.fcnt_down += 1
            modem.deliver(down)
