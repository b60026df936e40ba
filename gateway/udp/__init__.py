"""Semtech UDP packet-forwarder protocol (versions 1 and 2): one module per packet type."""
