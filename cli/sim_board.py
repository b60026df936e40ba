"""``edge sim board``: a virtual sensor board (the real MicroPython VM) on a pseudo-terminal."""

import argparse
import signal
import sys
import threading
from pathlib import Path

from cli.main import EXIT_FAILURE, EXIT_OK

GROUP = "sim"


def cmd_board(args) -> int:
    from fieldtools.vboard import BoardError, VirtualBoard

    board = VirtualBoard(args.flash, heap=args.heap)
    try:
        board.start()
    except BoardError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_FAILURE
    if args.port_file:
        Path(args.port_file).write_text(board.port + "\n")
    print("virtual board on %s (flash: %s)" % (board.port, Path(args.flash).resolve()), flush=True)
    print("  try: mpremote connect %s   or   edge flash --port %s ...; Ctrl-C stops it" % (board.port, board.port))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.is_set() and board.running:
            done.wait(0.5)
    except KeyboardInterrupt:
        pass
    board.stop()
    if args.port_file:
        Path(args.port_file).unlink(missing_ok=True)
    print("virtual board stopped; its files stay in %s" % args.flash)
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    from fieldtools.vboard import DEFAULT_HEAP

    p = sub.add_parser("board", help="run a virtual board (MicroPython VM) on a pseudo-terminal")
    p.add_argument("--flash", default="vboard-flash", help="host directory kept as the board's flash")
    p.add_argument("--heap", type=int, default=DEFAULT_HEAP, help="MicroPython heap in bytes")
    p.add_argument("--port-file", help="write the pty path to this file (for scripts)")
    p.set_defaults(func=cmd_board)
