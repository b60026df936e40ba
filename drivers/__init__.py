# Sensor drivers, one module per chip, MicroPython-compatible. The bus is passed in; nothing is
# created at import.
