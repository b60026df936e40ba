"""Sensors attached to the gateway itself."""
