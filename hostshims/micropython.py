"""Host-only stand-in for MicroPython's built-in ``micropython`` module.

CPython has no such module; device code imports ``const`` from it exactly as it would on a board,
so the same source runs on both. On MicroPython the built-in module wins and this file is never
copied to a device (it is not in firmware/manifest.py).
"""


def const(value):
    return value


def native(func):
    return func


def viper(func):
    return func


def alloc_emergency_exception_buf(size):
    return None


def schedule(func, arg):
    func(arg)
    return None
