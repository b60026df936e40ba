# The LoRa-E5 AT driver against scripted replies on a UART (the full emulator, with real LoRaWAN
# frames, is exercised in tests/firmware/). Replies are the module's documented lines.
from edge.clock import VirtualClock
from firmware.modem import LoRaE5, ModemError, ModemTimeout
from tests.device.mptest import raises


class ScriptedUART:
    """Answers each command line with the scripted lines for its first matching prefix."""

    def __init__(self, clock, script):
        self.clock = clock
        self.script = script
        self.out = bytearray()
        self.sent = []
        self._line = bytearray()

    def write(self, buf):
        for b in buf:
            if b == 10:
                line = bytes(self._line).strip().decode()
                self._line = bytearray()
                self.sent.append(line)
                for prefix, replies in self.script:
                    if line.startswith(prefix):
                        for r in replies:
                            self.out.extend(r.encode() + b"\r\n")
                        break
            elif b != 0xFF:
                self._line.append(b)
        return len(buf)

    def any(self):
        return len(self.out)

    def read(self, n=None):
        if not self.out:
            return None
        data = bytes(self.out)
        self.out = bytearray()
        return data


def modem(script):
    clock = VirtualClock()
    uart = ScriptedUART(clock, script)
    return LoRaE5(uart, clock), uart, clock


def test_configure_sends_identity_keys_and_data_rate():
    m, uart, _ = modem(
        [
            ("AT+ID", ["+ID: ok"]),
            ("AT+KEY", ["+KEY: APPKEY 00"]),
            ("AT+MODE", ["+MODE: LWOTAA"]),
            ("AT+DR", ["+DR: DR5 SF7 BW125K"]),
            ("AT+CLASS", ["+CLASS: A"]),
            ("AT+ADR", ["+ADR: OFF"]),
        ]
    )
    m.configure(bytes.fromhex("70b3d57ed0000042"), bytes(8), bytes(range(16)), 5)
    assert uart.sent[0] == 'AT+ID=DevEui,"70B3D57ED0000042"'
    assert 'AT+KEY=APPKEY,"000102030405060708090A0B0C0D0E0F"' in uart.sent
    assert uart.sent[-1] == "AT+DR=5" and m.dr == 5


def test_error_reply_and_silence_raise_typed_errors():
    m, _, clock = modem([("AT+DR", ["+DR: ERROR(-1)"])])
    with raises(ModemError):
        m.set_dr(9)
    t = clock.ticks_ms()
    with raises(ModemTimeout):
        m.max_payload()
    assert clock.ticks_diff(clock.ticks_ms(), t) >= 1000 and m.errors == 2


def test_join_success_and_failure():
    ok, _, _ = modem([("AT+JOIN", ["+JOIN: Start", "+JOIN: NORMAL", "+JOIN: Network joined", "+JOIN: Done"])])
    assert ok.join() and ok.joined
    bad, _, _ = modem([("AT+JOIN", ["+JOIN: Start", "+JOIN: Join failed", "+JOIN: Done"])])
    assert not bad.join() and not bad.joined


def test_send_with_downlink_ack_and_quality():
    m, uart, _ = modem(
        [
            ("AT+PORT", ["+PORT: 1"]),
            (
                "AT+CMSGHEX",
                [
                    "+CMSGHEX: Start",
                    "+CMSGHEX: Wait ACK",
                    "+CMSGHEX: ACK Received",
                    '+CMSGHEX: PORT: 2; RX: "0178000000"',
                    "+CMSGHEX: RXWIN1, RSSI -43, SNR 10.0",
                    "+CMSGHEX: Done",
                ],
            ),
        ]
    )
    res = m.send(b"\x01\x02", 1, confirmed=True)
    assert uart.sent[-1] == 'AT+CMSGHEX="0102"'
    assert res.sent and res.acked and res.port == 2 and res.data == b"\x01x\x00\x00\x00"
    assert res.rssi == -43 and res.snr == 10.0 and res.error is None


def test_send_errors_are_classified():
    for line, err in (
        ("+MSGHEX: Please join network first", "not_joined"),
        ("+MSGHEX: No band in 12345ms", "no_band"),
        ("+MSGHEX: Length error 60", "length"),
        ("+MSGHEX: LoRaWAN modem is busy", "busy"),
    ):
        m, _, _ = modem([("AT+PORT", ["+PORT: 1"]), ("AT+MSGHEX", [line])])
        res = m.send(b"\x00", 1)
        assert res.error == err and not res.sent, (line, res)
        if err == "no_band":
            assert res.wait_ms == 12345


def test_garbage_and_broken_downlinks_never_crash():
    m, _, _ = modem(
        [
            ("AT+PORT", ["\xff\xfe garbage", "+PORT: 1"]),
            ("AT+MSGHEX", ["+MSGHEX: Start", '+MSGHEX: PORT: x; RX: "zz"', "+MSGHEX: RXWIN9, RSSI ?", "+MSGHEX: Done"]),
        ]
    )
    res = m.send(b"\x00", 1)
    assert res.sent and res.port is None and res.data is None and m.errors == 1


def test_a_send_without_answer_times_out():
    m, _, clock = modem([("AT+PORT", ["+PORT: 1"]), ("AT+MSGHEX", ["+MSGHEX: Start"])])
    t = clock.ticks_ms()
    res = m.send(b"\x00", 1)
    assert res.error == "timeout" and res.sent
    assert clock.ticks_diff(clock.ticks_ms(), t) >= 30000
