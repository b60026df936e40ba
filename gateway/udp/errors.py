"""Typed errors for malformed packet-forwarder datagrams. `kind` names the counter each one feeds."""


class DatagramError(ValueError):
    kind = "malformed"


class BadHeader(DatagramError):
    """Shorter than the 4-byte header."""

    kind = "bad_header"


class BadVersion(DatagramError):
    """Protocol version other than 1 or 2."""

    kind = "bad_version"


class UnknownType(DatagramError):
    """An identifier the forwarder does not send to a server (or none at all)."""

    kind = "unknown_type"


class WrongSize(DatagramError):
    """A packet too short or too long for its type (missing gateway EUI, trailing bytes)."""

    kind = "wrong_size"


class BadJSON(DatagramError):
    """The JSON object is not valid UTF-8 JSON or not an object."""

    kind = "bad_json"


class BadField(DatagramError):
    """A JSON field with a wrong type or value (rxpk without data, negative tmst...)."""

    kind = "bad_field"


class BadBase64(DatagramError):
    """The data field is not valid base64, or its length disagrees with size."""

    kind = "bad_base64"


class UnknownGateway(DatagramError):
    """A gateway EUI outside `[udp] gateways`, or a TX_ACK from an address its PULL_DATA did not use."""

    kind = "unknown_gateway"
