# The simulator. simulator/devices/ holds MicroPython-compatible emulators; the rest is CPython.
