# edge: code shared by sensor nodes (MicroPython) and hosts (CPython).
# Everything in this package must import and run on MicroPython 1.27: no dataclasses,
# no typing at run time, no f-string format specs MicroPython lacks.
