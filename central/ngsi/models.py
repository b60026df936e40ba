"""The Smart Data Models and JSON-LD contexts the NGSI-LD views follow, read from the vendored copies.

Which model each entity type belongs to, the URL of its @context, and offline access to the
official schemas and contexts (``vendor/``, provenance in vendor/SOURCES.md): `validate()` checks
an entity against its model's JSON Schema, `expand()` expands it with pyld, resolving every
context URL to its vendored copy (a URL not vendored is an error: nothing is fetched).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

VENDOR = Path(__file__).parent / "vendor"

# ETSI GS CIM 009 V1.8.1 Annex B: the core context, always last in an entity's @context.
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"

_SDM = "https://raw.githubusercontent.com/smart-data-models/%s/master/context.jsonld"
DOMAIN_CONTEXT = {
    "dataModel.Device": _SDM % "dataModel.Device",
    "dataModel.Environment": _SDM % "dataModel.Environment",
    "dataModel.Weather": _SDM % "dataModel.Weather",
    "dataModel.Transportation": _SDM % "dataModel.Transportation",
}

# Entity type -> (domain, schema file in vendor/schemas).
TYPES = {
    "Device": ("dataModel.Device", "Device.Device.schema.json"),
    "DeviceOperation": ("dataModel.Device", "Device.DeviceOperation.schema.json"),
    "AirQualityObserved": ("dataModel.Environment", "Environment.AirQualityObserved.schema.json"),
    "NoiseLevelObserved": ("dataModel.Environment", "Environment.NoiseLevelObserved.schema.json"),
    "WeatherObserved": ("dataModel.Weather", "Weather.WeatherObserved.schema.json"),
    "CrowdFlowObserved": ("dataModel.Transportation", "Transportation.CrowdFlowObserved.schema.json"),
    "TrafficFlowObserved": ("dataModel.Transportation", "Transportation.TrafficFlowObserved.schema.json"),
}

# Vendored file of each URL the schemas and contexts refer to.
_LOCAL = {
    CORE_CONTEXT: "contexts/ngsi-ld-core-context-v1.8.jsonld",
    **{url: "contexts/%s.context.jsonld" % dom for dom, url in DOMAIN_CONTEXT.items()},
}
_SCHEMA_ALIASES = {
    # AirQualityObserved refers to its domain schema by its raw GitHub address, not its $id.
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/Environment-schema.json": "https://smart-data-models.github.io/dataModel.Environment/Environment-schema.json",
}


class NotVendored(LookupError):
    """A schema or context URL that has no vendored copy."""


def context_of(entity_type: str) -> list[str]:
    """The @context of an entity of this type: its domain's context, then the core context."""
    return [DOMAIN_CONTEXT[TYPES[entity_type][0]], CORE_CONTEXT]


def all_contexts() -> list[str]:
    """One @context that covers every type served (the API's Link header points at it)."""
    return [*DOMAIN_CONTEXT.values(), CORE_CONTEXT]


def context_document(url: str) -> dict[str, Any]:
    if url not in _LOCAL:
        raise NotVendored("no vendored copy of the context %s" % url)
    return json.loads((VENDOR / _LOCAL[url]).read_text(encoding="utf-8"))


@cache
def _registry():
    from referencing import Registry, Resource

    resources = []
    for path in sorted((VENDOR / "schemas").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        resources.append((doc["$id"], Resource.from_contents(doc)))
    ids = dict(resources)
    for alias, target in _SCHEMA_ALIASES.items():
        resources.append((alias, ids[target]))

    def missing(uri):
        raise NotVendored("no vendored copy of the schema %s" % uri)

    return Registry(retrieve=missing).with_resources(resources)  # type: ignore[call-arg]


@cache
def _validator(entity_type: str):
    from jsonschema import Draft202012Validator

    schema = json.loads((VENDOR / "schemas" / TYPES[entity_type][1]).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def required(entity_type: str) -> frozenset[str]:
    """The attributes the model's schema requires."""
    schema = json.loads((VENDOR / "schemas" / TYPES[entity_type][1]).read_text(encoding="utf-8"))
    return frozenset(schema.get("required", ()))


def validate(key_values: dict[str, Any]) -> list[str]:
    """Errors of an entity in its key-values form against its model's schema (empty: valid).

    The Smart Data Models schemas describe the key-values form (attribute -> plain value), so a
    normalized entity is checked through `key_values()` of central.ngsi.entities.
    """
    errors = _validator(key_values["type"]).iter_errors(key_values)
    return sorted("%s: %s" % ("/".join(map(str, e.absolute_path)) or "(entity)", e.message) for e in errors)


def _loader(url, options=None):
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": context_document(url),
    }


def expand(document: dict[str, Any]) -> list[dict[str, Any]]:
    """JSON-LD expansion of an entity that carries its @context, every context read from vendor/."""
    from pyld import jsonld

    return jsonld.expand(document, {"documentLoader": _loader})
