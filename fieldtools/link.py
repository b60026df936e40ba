"""A serial link to a MicroPython board through mpremote's transport, with errors a technician can act on.

Every failure becomes a LinkError whose message names the fix: a port that does not exist, a port
another program holds, a port without permission, a board that does not answer with MicroPython.
"""

import contextlib
import io
import os
from collections.abc import Iterator

INSTALL_MICROPYTHON = (
    "install MicroPython first: ESP32: esptool.py --chip esp32 --port {port} erase_flash, then "
    "esptool.py --chip esp32 --port {port} write_flash -z 0x1000 ESP32_GENERIC-<version>.bin; "
    "Pico W: hold BOOTSEL while plugging it in and copy RPI_PICO_W-<version>.uf2 to the RPI-RP2 drive "
    "(firmware from https://micropython.org/download/)"
)
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0  # once connected: a board silent this long mid-command is gone


class LinkError(RuntimeError):
    """The board cannot be reached; str() is one line naming the fix."""


class LinkLost(LinkError):
    """The link broke in the middle of a transfer (cable pulled, board reset)."""


def _check_port(port: str) -> None:
    import serial

    if "://" in port:
        return
    if not os.path.exists(port):
        raise LinkError(
            "no serial port %s: plug the board in and pass the port it gets (ls /dev/ttyUSB* /dev/ttyACM*)" % port
        )
    try:
        probe = serial.Serial(port, exclusive=True)
    except serial.SerialException as e:
        text = str(e)
        if "lock" in text:
            raise LinkError(
                "port %s is busy: close the program using it (mpremote, screen, minicom, an IDE; see fuser %s)"
                % (port, port)
            ) from None
        if "Permission denied" in text or "Errno 13" in text:
            raise LinkError(
                "no permission to open %s: add yourself to the dialout group (sudo usermod -aG dialout $USER) "
                "and log in again" % port
            ) from None
        raise LinkError("cannot open %s: %s" % (port, text)) from None
    probe.close()


@contextlib.contextmanager
def connect(port: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator:
    """An mpremote SerialTransport in the raw REPL (after a soft reset), closed on exit."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    _check_port(port)
    try:
        # mpremote's reads block without a serial timeout: a board that never answers would hang us
        transport = SerialTransport(port, baudrate=115200, timeout=timeout_s)
    except TransportError:
        raise LinkError("cannot open %s: unplug and plug the board in again" % port) from None
    try:
        quiet = io.StringIO()  # mpremote prints what it read when the raw REPL does not answer
        try:
            with contextlib.redirect_stdout(quiet):
                transport.enter_raw_repl(soft_reset=True, timeout_overall=timeout_s)
        except (TransportError, OSError):
            raise LinkError(
                "no MicroPython answers on %s: %s" % (port, INSTALL_MICROPYTHON.format(port=port))
            ) from None
        transport.serial.timeout = READ_TIMEOUT_S
        yield transport
    finally:
        with contextlib.suppress(Exception):
            if transport.in_raw_repl:
                transport.exit_raw_repl()
        with contextlib.suppress(Exception):
            transport.close()


def link_failure(port: str, error: BaseException) -> LinkError:
    """What an exception in the middle of a session means for the technician."""
    from mpremote.transport import TransportExecError

    if isinstance(error, TransportExecError):
        lines = error.error_output.strip().splitlines() or ["no message"]
        return LinkError(
            "the board failed running a command (%s): is MicroPython up to date (1.22 or later)?" % lines[-1]
        )
    return LinkLost(
        "lost the link to %s (%s): plug the cable in again and rerun the same command; it resumes" % (port, error)
    )
