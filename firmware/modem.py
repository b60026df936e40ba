# Driver for the Seeed LoRa-E5 (STM32WLE5, Seeed AT firmware; the RisingHF AT command family) on a
# UART, 9600 8N1. Commands used (LoRa-E5 AT Command Specification v1.0; docs/firmware.md lists the
# replies handled):
#   AT                       "+AT: OK"                           alive?
#   AT+ID=DevEui,"<hex>"     "+ID: DevEui, xx:xx:.."             identity
#   AT+ID=AppEui,"<hex>"     "+ID: AppEui, .."                   JoinEUI (AppEUI in LoRaWAN 1.0)
#   AT+KEY=APPKEY,"<hex>"    "+KEY: APPKEY .."
#   AT+MODE=LWOTAA           "+MODE: LWOTAA"
#   AT+DR=EU868, AT+DR=<n>   "+DR: EU868", "+DR: DR<n> .."       region, data rate
#   AT+DR                    "+DR: DR<n> .."                     the data rate in use (ADR moves it)
#   AT+ADR=ON|OFF            "+ADR: ON|OFF"
#   AT+CLASS=A               "+CLASS: A"
#   AT+JOIN                  "+JOIN: Start" .. "+JOIN: Network joined" | "+JOIN: Join failed" ..
#                            "+JOIN: Done"; "+JOIN: Joined already"; "+JOIN: LoRaWAN modem is busy"
#   AT+PORT=<n>              "+PORT: <n>"
#   AT+MSGHEX="<hex>"        unconfirmed; AT+CMSGHEX confirmed: "+MSGHEX: Start", optional
#                            "+MSGHEX: FPENDING", "+MSGHEX: PORT: 2; RX: \"<hex>\"",
#                            "+MSGHEX: RXWIN1, RSSI -43, SNR 10.0", "+CMSGHEX: ACK Received",
#                            "+MSGHEX: Done"; errors "Please join network first", "No band in <n>ms",
#                            "Length error <n>", "LoRaWAN modem is busy"
#   AT+LW=LEN                "+LW: LEN, <n>"                     largest payload at the current DR
#   AT+LOWPOWER              "+LOWPOWER: SLEEP"; any byte wakes it ("+LOWPOWER: WAKEUP")
#   AT+RESET                 "+RESET: OK"
# Any command may answer "+<CMD>: ERROR(<code>)" (-1 bad parameter, -10 unknown command, -11 wrong
# format, -12 not available now, -20..-24 line too long/timeout/bad character).
import binascii

from micropython import const

_POLL_MIN_MS = const(20)
_POLL_MAX_MS = const(500)
_CMD_TIMEOUT_MS = const(1000)
_JOIN_TIMEOUT_MS = const(20000)  # two join windows at SF12 and the modem's own retry
_MSG_TIMEOUT_MS = const(30000)  # SF12 frame, RX1 + RX2, confirmed retries
_LINE_MAX = const(256)


class ModemError(Exception):
    """The modem answered with an error, or not at all."""


class ModemTimeout(ModemError):
    pass


class SendResult:
    """What one uplink attempt gave."""

    def __init__(self):
        self.sent = False
        self.acked = False
        self.port = None  # downlink port and payload, if one came
        self.data = None
        self.rssi = None
        self.snr = None
        self.error = None  # "not_joined", "no_band", "length", "busy", "timeout", or the modem's text
        self.wait_ms = 0  # "No band in <n>ms": when the modem's own duty cycle opens again

    def __repr__(self):
        return "SendResult(sent=%r, acked=%r, port=%r, data=%r, error=%r)" % (
            self.sent,
            self.acked,
            self.port,
            self.data,
            self.error,
        )


class LoRaE5:
    """AT-command driver. uart: the machine.UART subset; clock: an edge.clock clock."""

    def __init__(self, uart, clock):
        self.uart = uart
        self.clock = clock
        self._buf = bytearray()
        self.joined = False
        self.dr = None
        self._port = None  # the port last set on the module
        self._op = None  # [kind, deadline, result, reply prefix] of a begun join or send
        self.errors = 0  # error replies and timeouts, for the status counters

    # ---- line I/O ----

    def _drain(self):
        while self.uart.any():
            self.uart.read()
        self._buf = bytearray()

    def _line_nowait(self):
        """The next complete reply line already received, or None."""
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line = bytes(self._buf[:i])
                self._buf = self._buf[i + 1 :]
                try:
                    return line.decode().strip()
                except UnicodeError:
                    continue  # noise on the line
            n = self.uart.any()
            if not n:
                return None
            data = self.uart.read(n)
            if not data:
                return None
            self._buf.extend(data)
            if len(self._buf) > _LINE_MAX and self._buf.find(b"\n") < 0:
                self._buf = bytearray()  # garbage without line ends

    def _readline(self, deadline):
        """The next reply line (str, without CR LF), or None at the deadline."""
        step = _POLL_MIN_MS
        while True:
            line = self._line_nowait()
            if line is not None:
                return line
            left = self.clock.ticks_diff(deadline, self.clock.ticks_ms())
            if left <= 0:
                return None
            self.clock.sleep_ms(min(step, left))
            if step < _POLL_MAX_MS:
                step *= 2

    def _command(self, line, timeout_ms=_CMD_TIMEOUT_MS):
        self._drain()
        self.uart.write(line.encode() + b"\r\n")
        return self.clock.ticks_add(self.clock.ticks_ms(), timeout_ms)

    def _simple(self, line, tag, timeout_ms=_CMD_TIMEOUT_MS):
        """Send a command whose answer is one "+TAG: ..." line; return the text after the tag."""
        deadline = self._command(line, timeout_ms)
        prefix = "+%s:" % tag
        while True:
            reply = self._readline(deadline)
            if reply is None:
                self.errors += 1
                raise ModemTimeout("no answer to %s" % line.split("=")[0])
            if reply.startswith(prefix):
                value = reply[len(prefix) :].strip()
                if value.startswith("ERROR"):
                    self.errors += 1
                    raise ModemError("%s: %s" % (line.split("=")[0], value))
                return value

    # ---- commands ----

    def probe(self):
        """True when the modem answers AT (after waking it from low power)."""
        self.uart.write(b"\xff\xff\xff\xff")  # any byte wakes it from AT+LOWPOWER
        try:
            return self._simple("AT", "AT") == "OK"
        except ModemError:
            return False

    def configure(self, dev_eui, join_eui, app_key, dr, adr=False):
        """Identity, keys and radio settings for OTAA (bytes keys, display order)."""
        self._simple('AT+ID=DevEui,"%s"' % _hex(dev_eui), "ID")
        self._simple('AT+ID=AppEui,"%s"' % _hex(join_eui), "ID")
        self._simple('AT+KEY=APPKEY,"%s"' % _hex(app_key), "KEY")
        self._simple("AT+MODE=LWOTAA", "MODE")
        self._simple("AT+DR=EU868", "DR")
        self._simple("AT+CLASS=A", "CLASS")
        self._simple("AT+ADR=%s" % ("ON" if adr else "OFF"), "ADR")
        self.set_dr(dr)

    def set_dr(self, dr):
        self._simple("AT+DR=%d" % dr, "DR")
        self.dr = dr

    def query_dr(self):
        """The data rate the modem uses now (ADR changes it): "+DR: DR<n> ..."."""
        value = self._simple("AT+DR", "DR")
        try:
            dr = int(value.split()[0][2:])
        except (IndexError, ValueError):
            raise ModemError("bad AT+DR answer %r" % value) from None
        self.dr = dr
        return dr

    def max_payload(self):
        """Largest application payload at the current data rate, as the modem reports it."""
        value = self._simple("AT+LW=LEN", "LW")
        try:
            return int(value.split(",")[1])
        except (IndexError, ValueError):
            raise ModemError("bad AT+LW=LEN answer %r" % value) from None

    # ---- join and send: begun, then polled without blocking (the node loop yields meanwhile) ----

    @property
    def busy(self):
        return self._op is not None

    def begin_join(self):
        """Start one OTAA join attempt; poll() returns True/False when it is over."""
        self._op = ["join", self._command("AT+JOIN", _JOIN_TIMEOUT_MS), False, None]

    def begin_send(self, data, port, confirmed=False):
        """Start one uplink of data (bytes) on port; poll() returns a SendResult when it is over."""
        res = SendResult()
        tag = "CMSGHEX" if confirmed else "MSGHEX"
        if port != self._port:  # the module keeps its port: one command less per uplink
            try:
                self._simple("AT+PORT=%d" % port, "PORT")
            except ModemError as e:
                res.error = str(e)
                self._op = ["done", 0, res, None]
                return
            self._port = port
        self._op = ["send", self._command('AT+%s="%s"' % (tag, _hex(data)), _MSG_TIMEOUT_MS), res, "+%s:" % tag]

    def poll(self):
        """None while the begun operation runs, else its result (join: bool, send: SendResult)."""
        op = self._op
        if op is None:
            return None
        if op[0] == "done":
            self._op = None
            return op[2]
        while True:
            line = self._line_nowait()
            if line is None:
                if self.clock.ticks_diff(op[1], self.clock.ticks_ms()) > 0:
                    return None
                self.errors += 1
                self._op = None
                if op[0] == "join":
                    return False
                op[2].error = "timeout"
                return op[2]
            done = self._join_line(op, line) if op[0] == "join" else self._send_line(op, line)
            if done:
                self._op = None
                return op[2]

    def _wait(self):
        step = _POLL_MIN_MS
        while True:
            r = self.poll()
            if r is not None or self._op is None:
                return r
            self.clock.sleep_ms(step)
            if step < _POLL_MAX_MS:
                step *= 2

    def join(self):
        """One blocking OTAA join attempt: True when joined."""
        self.begin_join()
        return bool(self._wait())

    def send(self, data, port, confirmed=False):
        """One blocking uplink; returns a SendResult with any downlink."""
        self.begin_send(data, port, confirmed)
        return self._wait()

    def _join_line(self, op, line):
        if not line.startswith("+JOIN:"):
            return False
        text = line[6:].strip()
        if text == "Network joined":
            op[2] = True
        elif text == "Joined already":
            op[2] = True
            self.joined = True
            return True
        elif text.startswith("ERROR") or text == "LoRaWAN modem is busy" or text.startswith("No band"):
            self.errors += 1
            op[2] = False
            return True
        elif text == "Done":
            self.joined = op[2]
            return True
        return False

    def _send_line(self, op, line):
        res = op[2]
        prefix = op[3]
        if not line.startswith(prefix):
            return False
        text = line[len(prefix) :].strip()
        if text == "Start":
            res.sent = True
        elif text == "Done":
            return True
        elif text == "ACK Received":
            res.acked = True
        elif text.startswith("PORT:"):
            self._downlink(text, res)
        elif text.startswith("RXWIN"):
            _rx_quality(text, res)
        elif text == "Please join network first":
            self.joined = False
            res.error = "not_joined"
            return True
        elif text.startswith("No band"):
            res.error = "no_band"
            digits = "".join(c for c in text if "0" <= c <= "9")
            res.wait_ms = int(digits) if digits else 0
            return True
        elif text.startswith("Length error"):
            res.error = "length"
            return True
        elif text == "LoRaWAN modem is busy" or text.startswith("ERROR"):
            self.errors += 1
            res.error = "busy" if text.startswith("LoRaWAN") else text
            return True
        return False

    def _downlink(self, text, res):
        # PORT: 2; RX: "0102"
        try:
            port_part, rx_part = text.split(";", 1)
            port = int(port_part.split(":")[1])
            hexdata = rx_part.split('"')[1]
            res.data = bytes.fromhex(hexdata)
            res.port = port
        except (IndexError, ValueError):
            self.errors += 1

    def sleep(self):
        """Put the modem into its low-power mode (it keeps the LoRaWAN session)."""
        try:
            self._simple("AT+LOWPOWER", "LOWPOWER")
        except ModemError:
            pass

    def reset(self):
        self._simple("AT+RESET", "RESET", 3000)
        self.joined = False
        self._port = None


def _hex(b):
    return binascii.hexlify(b).decode().upper()


def _rx_quality(text, res):
    # RXWIN1, RSSI -43, SNR 10.0
    for part in text.split(","):
        part = part.strip()
        try:
            if part.startswith("RSSI"):
                res.rssi = int(part[4:].strip())
            elif part.startswith("SNR"):
                res.snr = float(part[3:].strip())
        except ValueError:
            pass
