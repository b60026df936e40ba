# Node firmware (MicroPython). Host-only helpers live in firmware/host/ and never go on a board.
