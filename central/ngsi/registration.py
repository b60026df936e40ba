"""The Context Source registration a city's broker needs to federate this API (ETSI GS CIM 009 V1.8.1
clause 5.2.9 CSourceRegistration, 5.9.2 register).

Posted once to the city's broker (Orion-LD, Scorpio, Stellio) at ``/ngsi-ld/v1/csourceRegistrations``,
it tells the broker which entity types and attributes this API holds and where: queries to the
broker for them are forwarded here, and the data stays in the platform's tables, never copied.
"""

from __future__ import annotations

from typing import Any

from central.ngsi.entities import ATTRIBUTES
from central.ngsi.models import TYPES, all_contexts

# Attributes each type has beyond its model's measured ones (central.ngsi.entities renders them).
_COMMON = ("dateObserved", "location")
_NOT_OBSERVED = {  # types without dateObserved, location and refDevice: their relationship
    "Device": None,
    "DeviceOperation": "device",
}
_EXTRA = {
    "Device": ("serialNumber", "deviceCategory", "controlledProperty", "location", "dateInstalled",
               "dateLastValueReported", "configuration"),
    "DeviceOperation": ("operationType", "description", "status", "result", "startedAt", "endedAt"),
    "NoiseLevelObserved": ("dateObservedFrom", "dateObservedTo"),
    "CrowdFlowObserved": ("peopleCount", "dateObservedFrom", "dateObservedTo"),
    "TrafficFlowObserved": ("intensity", "vehicleType", "dateObservedFrom", "dateObservedTo"),
}


def registration(endpoint: str, name: str = "edge", token: str | None = None) -> dict[str, Any]:
    """The registration document (application/ld+json) for the API served at ``endpoint``."""
    information = []
    for entity_type in TYPES:
        props = [a[0] for a in ATTRIBUTES.get(entity_type, ())] + list(_EXTRA.get(entity_type, ()))
        if entity_type not in _NOT_OBSERVED:
            props += [p for p in _COMMON if p not in props]
        info: dict[str, Any] = {"entities": [{"type": entity_type}], "propertyNames": sorted(set(props))}
        relationship = _NOT_OBSERVED.get(entity_type, "refDevice")
        if relationship:
            info["relationshipNames"] = [relationship]
        information.append(info)
    reg: dict[str, Any] = {
        "id": "urn:ngsi-ld:ContextSourceRegistration:%s" % name,
        "type": "ContextSourceRegistration",
        "registrationName": name,
        "description": "edge platform: sensor observations as Smart Data Models, read-only",
        "information": information,
        "endpoint": endpoint.rstrip("/"),
        # inclusive: the broker merges what it holds with what this source answers (clause 4.3.6.2);
        # retrieveOps: only the read operations are forwarded (clause 4.3.6.3, Table 4.3.6.3-1).
        "mode": "inclusive",
        "operations": ["retrieveOps"],
        "@context": all_contexts(),
    }
    if token:
        # Sent by the broker with every forwarded request (clause 5.2.9 contextSourceInfo).
        reg["contextSourceInfo"] = [{"key": "Authorization", "value": "Bearer " + token}]
    return reg
