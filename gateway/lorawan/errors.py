"""Typed errors of the LoRaWAN layer. Every malformed or unauthentic frame raises one of these."""


class LoRaWANError(ValueError):
    """Base of every LoRaWAN parsing, building or authentication error."""


class FrameTooShort(LoRaWANError):
    """Fewer bytes than the message type needs."""


class FrameTooLong(LoRaWANError):
    """More bytes than the message type or the radio allows."""


class UnsupportedMType(LoRaWANError):
    """MHDR names a message type this layer does not handle (rejoin, proprietary)."""


class UnsupportedMajor(LoRaWANError):
    """MHDR major version is not LoRaWAN R1."""


class BadFrame(LoRaWANError):
    """Inconsistent fields: FOpts on FPort 0, a bad FOptsLen, a missing FPort with payload."""


class MICError(LoRaWANError):
    """The message integrity code does not match the key."""


class BadKey(LoRaWANError):
    """A key, EUI or address of the wrong size or type."""


class MACCommandError(LoRaWANError):
    """An unknown or truncated MAC command in FOpts or an FPort-0 payload."""
