"""Adapters that give Linux buses the machine.I2C / machine.UART subset the drivers use.

A gateway reads a locally attached sensor with the node's own driver code:
``SHT4x(SMBusI2C(1)).read()`` or ``SDS011(SerialUART("/dev/ttyUSB0")).read()``.
"""
