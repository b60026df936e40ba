"""The end device's MAC layer of the LoRa-E5 emulator: ADR, its back-off, and the MAC commands.

What a LoRaWAN 1.0.x class-A device does with the network's commands (1.0.3/1.0.4 §4.3.1.1, §5):
  - LinkADRReq: data rate, TXPower and channel mask applied all together or not at all; the
    LinkADRAns (three ACK bits) rides in the FOpts of the next uplink. A device whose ADR is off
    refuses data rate and power. ``max_tx_power`` lets a test build a device that refuses a power.
  - ADR back-off: every uplink counts ADR_ACK_CNT, any downlink resets it. From ADR_ACK_LIMIT (64)
    on, uplinks carry ADRACKReq; with no downlink ADR_ACK_DELAY (32) uplinks later the device goes
    back to full power, then one data rate lower every further ADR_ACK_DELAY uplinks, down to DR0,
    where it re-enables the default channels.
  - LinkCheckReq when asked (``link_check()``), its LinkCheckAns kept in ``last_link_check``;
    DevStatusReq answered with the battery level and the SNR margin of the frame that carried it.
  - The Join-Accept's CFList adds its channels to the three defaults.
Commands it does not know or cannot parse are counted in ``ignored`` and skipped, never fatal.
"""

from __future__ import annotations

from edge import lora
from gateway.lorawan import mac, maccmd
from gateway.lorawan.errors import MACCommandError

ADR_ACK_LIMIT = 64  # RP002 EU863-870 default
ADR_ACK_DELAY = 32
LINK_CHECK_REQ = bytes((mac.LINK_CHECK,))


class DeviceMAC:
    def __init__(self, channels: list[int], dr: int = 0) -> None:
        self.table = list(channels)  # channel index -> frequency, as ChMask bits count them
        self.enabled = set(range(len(self.table)))
        self.dr = dr
        self.tx_power = 0
        self.nb_trans = 1
        self.adr = False
        self.adr_ack_cnt = 0
        self.max_tx_power = maccmd.EU868_MAX_TX_POWER  # highest TXPower index this device accepts
        self.battery = 254  # DevStatusAns battery: 1..254, 0 external power, 255 unknown
        self._answers: list[bytes] = []  # MAC answers for the next uplink's FOpts
        self._link_check = False
        self.last_link_check: tuple[int, int] | None = None  # (margin dB, gateway count)
        self.adr_requests = 0
        self.adr_refused = 0
        self.ignored = 0  # commands unknown, malformed or not asked for

    @property
    def channels(self) -> list[int]:
        return [self.table[i] for i in sorted(self.enabled)]

    # ---- uplink side ----

    def joined(self, cflist: bytes | None) -> None:
        """A new session: counters reset, channels = defaults + the CFList's (if any, and valid)."""
        self.adr_ack_cnt = 0
        self.nb_trans = 1
        self._answers = []
        self.table = list(lora.EU868_DEFAULT_CHANNELS)
        if cflist is not None:
            try:
                self.table += [f for f in maccmd.parse_cflist(cflist) if f not in self.table]
            except MACCommandError:
                self.ignored += 1
        self.enabled = set(range(len(self.table)))

    def link_check(self) -> None:
        self._link_check = True

    def uplink(self, port0_room: int = 0) -> tuple[bytes, bool]:
        """(MAC commands, ADRACKReq) of the next uplink, with the back-off applied first. The commands
        go in FOpts (15 bytes at most); with port0_room (an uplink without application payload) the
        ones FOpts cannot hold all go as the FPort-0 payload instead (LoRaWAN 1.0.x §4.3.1.6), up to
        that many bytes: the caller sends them on FPort 0 when they are longer than 15 bytes."""
        adr_ack_req = False
        if self.adr:
            if self.adr_ack_cnt >= ADR_ACK_LIMIT:
                adr_ack_req = self.dr > 0 or self.tx_power > 0
            over = self.adr_ack_cnt - ADR_ACK_LIMIT
            if over >= ADR_ACK_DELAY and over % ADR_ACK_DELAY == 0:
                self._back_off()
            self.adr_ack_cnt += 1
        cmds = self._answers + ([LINK_CHECK_REQ] if self._link_check else [])
        fopts, rest = maccmd.fit_fopts(cmds)
        if rest and port0_room > maccmd.FOPTS_MAX:
            fopts, rest = b"", []
            for c in cmds:
                if not rest and len(fopts) + len(c) <= port0_room:
                    fopts += c
                else:
                    rest.append(c)
        self._answers = [c for c in rest if c != LINK_CHECK_REQ]
        self._link_check = LINK_CHECK_REQ in rest
        return fopts, adr_ack_req

    def _back_off(self) -> None:
        if self.tx_power > 0:
            self.tx_power = 0
        elif self.dr > 0:
            self.dr -= 1
            if self.dr == 0:
                self.enabled |= set(range(len(lora.EU868_DEFAULT_CHANNELS)))

    # ---- downlink side ----

    def downlink(self, commands: bytes, snr: float) -> None:
        """Any downlink of the session arrived (resets the back-off); commands = its FOpts or FPort-0 payload."""
        self.adr_ack_cnt = 0
        cmds, left = maccmd.parse_downlink_commands(commands)
        if left:
            self.ignored += 1
        for cid, payload in cmds:
            if cid == maccmd.LINK_ADR:
                self._link_adr(payload)
            elif cid == maccmd.DEV_STATUS:
                margin = max(-32, min(31, int(snr)))
                self._answers.append(maccmd.build_dev_status_ans(maccmd.DevStatusAns(self.battery, margin)))
            elif cid == mac.LINK_CHECK:  # LinkCheckAns: margin, gateway count
                self.last_link_check = (payload[0], payload[1])
            else:
                self.ignored += 1

    def _link_adr(self, payload: bytes) -> None:
        self.adr_requests += 1
        try:
            req = maccmd.parse_link_adr_req(payload, channels=16)
        except MACCommandError:
            self.ignored += 1
            self._answers.append(maccmd.build_link_adr_ans(maccmd.LinkADRAns(False, False, False)))
            self.adr_refused += 1
            return
        if req.ch_mask_cntl == maccmd.CH_MASK_CNTL_ALL_ON:
            enabled = set(range(len(self.table)))
        else:
            enabled = {i for i in range(len(self.table)) if req.ch_mask >> i & 1}
        ch_ok = bool(enabled) and req.ch_mask >> len(self.table) == 0
        dr_ok = self.adr and req.dr <= maccmd.ADR_MAX_DR
        power_ok = self.adr and req.tx_power <= self.max_tx_power
        ans = maccmd.LinkADRAns(power_ok, dr_ok, ch_ok)
        if ans.accepted:
            self.dr, self.tx_power, self.enabled = req.dr, req.tx_power, enabled
            self.nb_trans = req.nb_trans or 1
        else:
            self.adr_refused += 1
        self._answers.append(maccmd.build_link_adr_ans(ans))
