"""Emulator of a Seeed LoRa-E5 modem with its AT firmware, on a virtual UART.

It *is* the UART the node firmware's driver (firmware/modem.py) talks to: ``write``, ``read``,
``readinto`` and ``any`` like machine.UART. It answers the AT commands of docs/firmware.md and runs
a LoRaWAN 1.0.x class-A end device with the project's LoRaWAN code (gateway.lorawan): a real
join-request and real encrypted, MIC'd data frames go to the radio; join-accepts and downlinks that
come back in the receive windows are decrypted and MIC-checked like the module does.

Time comes from the clock (an edge.clock clock): replies that the module sends later (the end of
a join, a downlink in RX1/RX2) are released when the clock has passed their time, whenever the
driver next calls ``any()``/``read()``. Nothing runs in the background.

Radio side:
  - ``radio(modem, phy, freq_hz, dr, start_ms, airtime_ms)`` is called for every frame sent
    (``start_ms`` in clock.monotonic_ms() time when the clock has it, else ticks);
  - ``modem.deliver(phy, rssi=-60, snr=8.0)`` hands the modem a frame heard on its receive
    windows; it must arrive before the window it is meant for has passed (``modem.rx_windows``
    lists the pending windows' times, so a simulator can hold its clock until the gateway replied).
The module's own EU868 duty-cycle limiter is modelled ("No band in <n>ms"), and every frame sent
is kept in ``tx_log`` (start ms, frequency, airtime ms) for duty-cycle checks.

MAC layer (simulator/modem/device_mac.py): ADR with its ADR_ACK back-off, LinkADRReq/Ans,
LinkCheck, DevStatus and the Join-Accept's CFList, in real FOpts, or on FPort 0 (under the NwkSKey)
when they are too long for FOpts and the frame has no application payload.

NbTrans (LinkADRReq Redundancy): an unconfirmed uplink without a downlink in its windows is sent
again with the same FCnt, NbTrans times in all, each repetition when the duty cycle allows it at
once.

Not modelled: the other MAC commands (counted and ignored), confirmed-uplink retransmissions,
class B/C, the module's flash (the session is lost on ``power_off()`` and ``AT+RESET``;
DevNonce keeps counting up as the module keeps it in flash), UART baud errors.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from edge import lora
from gateway import lorawan
from gateway.lorawan import maccmd
from simulator.modem.device_mac import DeviceMAC

DEFAULT_CHANNELS = lora.EU868_DEFAULT_CHANNELS
RX1_DELAY_MS = 1000  # RECEIVE_DELAY1, LoRaWAN 1.0.x; RX2 one second later
JOIN_ACCEPT_DELAY_MS = 5000  # JOIN_ACCEPT_DELAY1; RX2 at 6 s
RX2_FREQ = 869525000
RX2_DR = 0

Radio = Callable[["LoRaE5Emulator", bytes, int, int, int, int], None]


@dataclass
class Session:
    dev_addr: bytes
    nwkskey: bytes
    appskey: bytes
    fcnt_up: int = 0
    fcnt_down: int = 0  # next expected downlink counter


@dataclass
class _Pending:
    kind: str  # "join" or "msg"
    tag: str  # reply tag, e.g. "MSGHEX"
    windows: list[int]  # the ms times of RX1 and RX2 (after which the window is judged)
    confirmed: bool = False
    lines: list[str] = field(default_factory=list)
    phy: bytes = b""  # the frame, for its NbTrans repetitions
    repeats: int = 0  # repetitions still to send if no downlink comes


class LoRaE5Emulator:
    """A LoRa-E5 on a virtual UART; see the module docstring."""

    def __init__(
        self,
        clock,
        radio: Radio | None = None,
        channels: tuple[int, ...] | list[int] = DEFAULT_CHANNELS,
        seed: int = 0,
        duty_cycle: bool = True,
    ) -> None:
        self.clock = clock
        self.radio = radio
        self.mac = DeviceMAC(list(channels))  # data rate, power, channels, ADR and MAC commands
        self.duty_cycle = duty_cycle
        self._rng = random.Random(seed)
        self._in = bytearray()
        self._out = bytearray()
        self._timed: list[tuple[int, str]] = []  # (due ms, line) released by the clock
        self.dev_eui = bytes(8)
        self.join_eui = bytes(8)
        self.app_key = bytes(16)
        self.mode = "LWOTAA"
        self.port = 8
        self.dev_nonce = 0
        self.session: Session | None = None
        self.asleep = False
        self.powered = True
        self._pending: _Pending | None = None
        self._rx: list[tuple[bytes, float, float]] = []  # frames heard, not yet judged
        self._band_free_ms = [0] * len(lora.EU868_SUBBANDS)
        self.tx_log: list[tuple[int, int, int]] = []  # (start ms, freq Hz, airtime ms)
        self.commands: list[str] = []  # every command line received, for tests
        self.downlinks_rejected = 0
        self.repetitions = 0  # NbTrans repetitions sent

    # the MAC layer holds the radio settings the network may change
    @property
    def channels(self) -> list[int]:
        return self.mac.channels

    @property
    def dr(self) -> int:
        return self.mac.dr

    @dr.setter
    def dr(self, dr: int) -> None:
        self.mac.dr = dr

    @property
    def adr(self) -> bool:
        return self.mac.adr

    @adr.setter
    def adr(self, on: bool) -> None:
        self.mac.adr = on

    # ---- time ----

    def _now(self) -> int:
        mono = getattr(self.clock, "monotonic_ms", None)
        return int(mono()) if mono is not None else int(self.clock.ticks_ms())

    @property
    def rx_windows(self) -> list[int]:
        """The ms times of the receive windows still open (empty when the modem waits for nothing)."""
        return list(self._pending.windows) if self._pending else []

    def next_change_ms(self) -> int | None:
        """When the module next has something to say or a receive window to judge (None: never,
        until a command comes). Polling the UART before then finds nothing (simulator/nodes.py
        lets a node's poll loop sleep until then)."""
        t = self._pending.windows[0] if self._pending is not None and self._pending.windows else None
        for due, _ in self._timed:
            if t is None or due < t:
                t = due
        return t

    # ---- UART side ----

    def any(self) -> int:
        self._pump()
        return len(self._out)

    def read(self, n: int | None = None) -> bytes | None:
        self._pump()
        if not self._out:
            return None
        if n is None or n >= len(self._out):
            data = bytes(self._out)
            self._out = bytearray()
        else:
            data = bytes(self._out[:n])
            del self._out[:n]
        return data

    def readinto(self, buf, n: int | None = None) -> int | None:
        data = self.read(len(buf) if n is None else min(n, len(buf)))
        if not data:
            return None
        buf[: len(data)] = data
        return len(data)

    def write(self, buf) -> int:
        if not self.powered:
            return len(buf)
        self._pump()
        data = bytes(buf)
        if self.asleep and data:
            self.asleep = False
            self._say("+LOWPOWER: WAKEUP")
            data = data.lstrip(b"\xff")
        self._in.extend(data)
        while True:
            i = self._in.find(b"\n")
            if i < 0:
                break
            line = bytes(self._in[:i]).strip(b"\r \xff")
            del self._in[: i + 1]
            if line:
                try:
                    self._command(line.decode())
                except UnicodeDecodeError:
                    self._say("+AT: ERROR(-23)")
        if len(self._in) > 528:  # the module's line limit: -21, line too long
            self._in = bytearray()
            self._say("+AT: ERROR(-21)")
        return len(buf)

    def _say(self, line: str) -> None:
        self._out.extend(line.encode() + b"\r\n")

    def _later(self, due_ms: int, line: str) -> None:
        self._timed.append((due_ms, line))

    def _pump(self) -> None:
        now = self._now()
        if self._pending is not None:
            self._judge_windows(now)
        if self._timed:
            due = [x for x in self._timed if x[0] <= now]
            if due:
                self._timed = [x for x in self._timed if x[0] > now]
                for _, line in sorted(due, key=lambda x: x[0]):
                    self._say(line)

    # ---- power ----

    def power_off(self) -> None:
        """The node lost power: session, buffers and pending replies are gone."""
        self.powered = False
        self.session = None
        self._pending = None
        self._timed = []
        self._in = bytearray()
        self._out = bytearray()
        self.asleep = False

    def power_on(self) -> None:
        self.powered = True

    # ---- commands ----

    def _command(self, line: str) -> None:
        self.commands.append(line)
        if not line.upper().startswith("AT"):
            self._say("+AT: ERROR(-10)")
            return
        body = line[2:]
        if body == "":
            self._say("+AT: OK")
            return
        if not body.startswith("+"):
            self._say("+AT: ERROR(-10)")
            return
        name, _, arg = body[1:].partition("=")
        name = name.upper()
        handler = getattr(self, "_at_" + name.lower(), None)
        if handler is None:
            self._say("+%s: ERROR(-10)" % name)
            return
        if self._pending is not None and name in ("JOIN", "MSGHEX", "CMSGHEX", "MSG", "CMSG"):
            self._say("+%s: LoRaWAN modem is busy" % name)
            return
        try:
            handler(arg.strip())
        except ValueError:
            self._say("+%s: ERROR(-1)" % name)

    def _at_id(self, arg: str) -> None:
        if not arg:
            self._say("+ID: DevAddr, %s" % _colons(self.session.dev_addr if self.session else bytes(4)))
            self._say("+ID: DevEui, %s" % _colons(self.dev_eui))
            self._say("+ID: AppEui, %s" % _colons(self.join_eui))
            return
        what, _, value = arg.partition(",")
        what = what.strip().lower()
        if what not in ("deveui", "appeui"):
            raise ValueError(what)
        if value:
            raw = _unhex(value, 8)
            if what == "deveui":
                self.dev_eui = raw
            else:
                self.join_eui = raw
        self._say("+ID: %s, %s" % ("DevEui" if what == "deveui" else "AppEui", _colons(self._id(what))))

    def _id(self, what: str) -> bytes:
        return self.dev_eui if what == "deveui" else self.join_eui

    def _at_key(self, arg: str) -> None:
        what, _, value = arg.partition(",")
        if what.strip().upper() != "APPKEY":
            raise ValueError(what)
        self.app_key = _unhex(value, 16)
        self._say("+KEY: APPKEY %s" % self.app_key.hex().upper())

    def _at_mode(self, arg: str) -> None:
        if arg.upper() not in ("LWOTAA", "LWABP", "TEST"):
            raise ValueError(arg)
        self.mode = arg.upper()
        self._say("+MODE: %s" % self.mode)

    def _at_dr(self, arg: str) -> None:
        a = arg.upper()
        if a == "EU868":
            self._say("+DR: EU868")
            return
        if a:
            dr = int(a[2:] if a.startswith("DR") else a)
            lora.eu868_dr(dr)  # RadioError (a ValueError) outside 0..6
            self.dr = dr
        sf, bw, _ = lora.eu868_dr(self.dr)
        self._say("+DR: DR%d SF%d BW%dK" % (self.dr, sf, bw // 1000))

    def _at_adr(self, arg: str) -> None:
        if arg.upper() not in ("ON", "OFF"):
            raise ValueError(arg)
        self.adr = arg.upper() == "ON"
        self._say("+ADR: %s" % arg.upper())

    def _at_class(self, arg: str) -> None:
        if arg.upper() != "A":
            raise ValueError(arg)
        self._say("+CLASS: A")

    def _at_port(self, arg: str) -> None:
        port = int(arg)
        if not 1 <= port <= 223:
            raise ValueError(arg)
        self.port = port
        self._say("+PORT: %d" % port)

    def _at_lw(self, arg: str) -> None:
        if arg.upper() != "LEN":
            raise ValueError(arg)
        self._say("+LW: LEN, %d" % lora.eu868_dr(self.dr)[2])

    def _at_lowpower(self, arg: str) -> None:
        self._say("+LOWPOWER: SLEEP")
        self.asleep = True

    def _at_reset(self, arg: str) -> None:
        self._say("+RESET: OK")
        self.session = None
        self._pending = None
        self._timed = []

    def _at_join(self, arg: str) -> None:
        if self.mode != "LWOTAA":
            self._say("+JOIN: ERROR(-12)")
            return
        if self.session is not None and arg.upper() != "FORCE":
            self._say("+JOIN: Joined already")
            return
        wait = self._band_wait()
        if wait > 0:
            self._say("+JOIN: No band in %dms" % wait)
            return
        self.dev_nonce = (self.dev_nonce + 1) & 0xFFFF
        phy = lorawan.build_join_request(self.app_key, self.join_eui, self.dev_eui, self.dev_nonce)
        self._say("+JOIN: Start")
        self._say("+JOIN: NORMAL, count 1, 0 DR, 0.0 dBm")
        end = self._transmit(phy, self._rng.choice(list(DEFAULT_CHANNELS)))
        self._pending = _Pending("join", "JOIN", [end + JOIN_ACCEPT_DELAY_MS, end + JOIN_ACCEPT_DELAY_MS + 1000])

    def _at_msghex(self, arg: str) -> None:
        self._send("MSGHEX", arg, False)

    def _at_cmsghex(self, arg: str) -> None:
        self._send("CMSGHEX", arg, True)

    def _send(self, tag: str, arg: str, confirmed: bool) -> None:
        data = bytes.fromhex(arg.strip().strip('"')) if arg.strip().strip('"') else b""
        if self.session is None:
            self._say("+%s: Please join network first" % tag)
            return
        limit = lora.eu868_dr(self.dr)[2]
        if len(data) > limit:
            self._say("+%s: Length error %d" % (tag, len(data)))
            return
        wait = self._band_wait()
        if wait > 0:
            self._say("+%s: No band in %dms" % (tag, wait))
            return
        s = self.session
        mac_cmds, adr_ack_req = self.mac.uplink(0 if data else limit)
        port0 = not data and len(mac_cmds) > maccmd.FOPTS_MAX  # MAC alone on FPort 0, under the NwkSKey
        phy = lorawan.build_data_frame(
            nwkskey=s.nwkskey,
            appskey=s.appskey,
            dev_addr=s.dev_addr,
            fcnt32=s.fcnt_up,
            uplink=True,
            confirmed=confirmed,
            fport=0 if port0 else self.port if data else None,
            payload=mac_cmds if port0 else data,
            adr=self.adr,
            adr_ack_req=adr_ack_req,
            fopts=b"" if port0 else mac_cmds,
        )
        s.fcnt_up += 1
        self._say("+%s: Start" % tag)
        if confirmed:
            self._say("+%s: Wait ACK" % tag)
        end = self._transmit(phy, self._rng.choice(self.channels))
        windows = [end + RX1_DELAY_MS, end + RX1_DELAY_MS + 1000]
        repeats = 0 if confirmed else self.mac.nb_trans - 1
        self._pending = _Pending("msg", tag, windows, confirmed, phy=phy, repeats=repeats)

    # ---- radio ----

    def _band_wait(self) -> int:
        if not self.duty_cycle:
            return 0
        now = self._now()
        free = [self._band_free_ms[lora.eu868_subband(f)] for f in self.channels]
        return max(0, min(free) - now)

    def _transmit(self, phy: bytes, freq: int) -> int:
        """Send phy now on freq (moved to a free sub-band if needed); return the end time in ms."""
        now = self._now()
        if self.duty_cycle:
            free = [f for f in self.channels if self._band_free_ms[lora.eu868_subband(f)] <= now]
            if freq not in free and free:
                freq = self._rng.choice(free)
        sf, bw, _ = lora.eu868_dr(self.dr)
        airtime = (lora.time_on_air_us(len(phy), sf, bw) + 999) // 1000
        band = lora.eu868_subband(freq)
        self._band_free_ms[band] = now + airtime * 1000 // lora.EU868_SUBBANDS[band][2]
        self.tx_log.append((now, freq, airtime))
        self._rx = []
        if self.radio is not None:
            self.radio(self, phy, freq, self.dr, now, airtime)
        return now + airtime

    def deliver(self, phy: bytes, rssi: float = -60.0, snr: float = 8.0) -> None:
        """A frame heard in the current receive window (join-accept or downlink)."""
        if self.powered:  # judged when the window's time has come; a new uplink clears it
            self._rx.append((bytes(phy), rssi, snr))

    def _judge_windows(self, now: int) -> None:
        p = self._pending
        while p is not None and p.windows and p.windows[0] <= now:
            window = 3 - len(p.windows)  # 1 then 2
            at = p.windows.pop(0)
            heard = self._rx
            self._rx = []
            got = False
            for phy, rssi, snr in heard:
                if self._accept(p, phy, window, rssi, snr, at):
                    got = True
                    p.windows = []
                    break
            if not p.windows:
                if not got and self._repeat(p):
                    continue
                self._finish(p, at)
                self._pending = None
                return

    def _repeat(self, p: _Pending) -> bool:
        """An unconfirmed frame whose windows brought no downlink goes again, NbTrans times in all
        (LoRaWAN 1.0.x §5.3), same FCnt, on a channel drawn again; a repetition the duty cycle does
        not allow at once is dropped (the module would wait for the band)."""
        if p.kind != "msg" or p.repeats <= 0 or self._band_wait() > 0:
            return False
        p.repeats -= 1
        end = self._transmit(p.phy, self._rng.choice(self.channels))
        p.windows = [end + RX1_DELAY_MS, end + RX1_DELAY_MS + 1000]
        self.repetitions += 1
        return True

    def _finish(self, p: _Pending, at: int) -> None:
        if p.kind == "join":
            if self.session is None:
                self._later(at, "+JOIN: Join failed")
            self._later(at, "+JOIN: Done")
        else:
            self._later(at, "+%s: Done" % p.tag)

    def _accept(self, p: _Pending, phy: bytes, window: int, rssi: float, snr: float, at: int) -> bool:
        if p.kind == "join":
            try:
                ja = lorawan.decrypt_join_accept(self.app_key, phy)
            except lorawan.LoRaWANError:
                self.downlinks_rejected += 1
                return False
            nwk, app = lorawan.derive_session_keys(self.app_key, ja.join_nonce, ja.net_id, self.dev_nonce)
            self.session = Session(ja.dev_addr, nwk, app)
            self.mac.joined(ja.cflist)
            self._later(at, "+JOIN: Network joined")
            self._later(at, "+JOIN: NetID %06X DevAddr %s" % (ja.net_id, _colons(ja.dev_addr)))
            return True
        s = self.session
        try:
            frame = lorawan.parse_phy(phy)
        except lorawan.LoRaWANError:
            self.downlinks_rejected += 1
            return False
        if s is None or not isinstance(frame, lorawan.DataFrame) or frame.uplink or frame.dev_addr != s.dev_addr:
            self.downlinks_rejected += 1
            return False
        fcnt32 = lorawan.infer_fcnt32(s.fcnt_down, frame.fcnt16)
        if fcnt32 < s.fcnt_down or not frame.mic_ok(s.nwkskey, fcnt32):
            self.downlinks_rejected += 1
            return False
        s.fcnt_down = fcnt32 + 1
        mac = frame.decrypt(s.nwkskey, s.appskey, fcnt32) if frame.fport == 0 else frame.fopts
        self.mac.downlink(mac, snr)
        tag = p.tag
        if frame.fpending:
            self._later(at, "+%s: FPENDING" % tag)
        if frame.ack and p.confirmed:
            self._later(at, "+%s: ACK Received" % tag)
        if frame.fport is not None and frame.fport > 0 and frame.frm_payload:
            data = frame.decrypt(s.nwkskey, s.appskey, fcnt32)
            self._later(at, '+%s: PORT: %d; RX: "%s"' % (tag, frame.fport, data.hex().upper()))
        self._later(at, "+%s: RXWIN%d, RSSI %d, SNR %.1f" % (tag, window, round(rssi), snr))
        return True


def _colons(b: bytes) -> str:
    return ":".join("%02X" % x for x in b)


def _unhex(value: str, n: int) -> bytes:
    v = value.strip().strip('"').replace(":", "").replace(" ", "")
    raw = bytes.fromhex(v)
    if len(raw) != n:
        raise ValueError("expected %d bytes" % n)
    return raw
