"""The gateway agent (Linux, CPython): packet-forwarder server, LoRaWAN decoding, SQLite buffer, MQTT."""
