"""Forwarding buffered readings to the platform: SenML-CBOR over MQTT, deleted only after PUBACK."""
