"""The NGSI-LD read operations (ETSI GS CIM 009 V1.8.1 clause 5.7 and 5.7.3-5.7.4 temporal, 5.7.5 types).

Each operation takes the request's path parameters and query parameters and a `Store`, and
returns ``(status, body, extra headers)``; central.ngsi.server does the HTTP. Entities are
rendered per request from the tables (central.ngsi.entities): nothing is copied or cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from central.ngsi import entities as ents
from central.ngsi import query
from central.ngsi.models import TYPES
from central.ngsi.query import BadRequest
from central.ngsi.store import Store

BASE = "/ngsi-ld/v1"
# urn:ngsi-ld:<Type>:<dev_eui>, and :<n> after it for a DeviceOperation (n: the change's row id).
_ID = re.compile(r"urn:ngsi-ld:([A-Za-z]+):([0-9a-f]{16})(?::[0-9]{1,18})?")


class NotFound(LookupError):
    """An entity id that names no entity: ResourceNotFound, HTTP 404."""


@dataclass
class Options:
    """What a deployment decides about its devices (from the [ngsi] section of the config)."""

    bicycle_counters: frozenset[str] = field(default_factory=frozenset)


_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")


def _types(params: dict[str, str]) -> list[str] | None:
    """Types asked for. A name that is no NGSI-LD type name is BadRequestData; a well-formed type this
    API does not serve selects nothing (clause 5.7.2: type is a selector, as in every broker; clients
    such as ngsildclient probe a broker with type=None and expect an empty answer)."""
    types = query.csv_param(params, "type")
    bad = [t for t in types or () if not _TYPE_NAME.fullmatch(t)]
    if bad:
        raise BadRequest("not an entity type name: %s (served: %s)" % (", ".join(map(repr, bad)),
                                                                      ", ".join(sorted(TYPES))))
    return types


# RFC 3986 section 3.1: an entity id is a URI, so it starts with a scheme and a colon.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+")


def _check_uri(entity_id: str) -> None:
    if not _URI.fullmatch(entity_id):
        raise BadRequest("entity id %r is not a URI" % entity_id)


def _ids(params: dict[str, str]) -> list[str] | None:
    ids = query.csv_param(params, "id")
    for i in ids or ():
        _check_uri(i)
    return ids


def ours(entity_id: str) -> tuple[str, str] | None:
    """(type, dev_eui) of an id this API serves (urn:ngsi-ld:<Type>:<dev_eui>), else None."""
    m = _ID.fullmatch(entity_id)
    return (m.group(1), m.group(2)) if m and m.group(1) in TYPES else None


def _key_values(params: dict[str, str]) -> bool:
    opts = query.csv_param(params, "options") or []
    unknown = [o for o in opts if o not in ("keyValues", "simplified", "normalized", "count")]
    if unknown:
        raise BadRequest("unknown options %s" % ", ".join(unknown))
    return "keyValues" in opts or "simplified" in opts or params.get("format") in ("keyValues", "simplified")


def _render(store: Store, opts: Options, euis: list[str] | None,
            tr: query.TimeRange | None = None) -> list[dict[str, Any]]:
    """Entities of the devices (all, or those listed): latest values, or the temporal view over tr."""
    devices = store.devices(euis)
    if tr is not None:
        data = store.series([d["dev_eui"] for d in devices], tr.start, tr.end, tr.last_n)
    else:
        data = store.latest([d["dev_eui"] for d in devices])
    history = store.history([d["dev_eui"] for d in devices]) if tr is None else {}
    out = []
    for d in devices:
        out.extend(ents.device_entities(d, data.get(d["dev_eui"], {}),
                                        bicycle=d["dev_eui"] in opts.bicycle_counters, temporal=tr is not None))
        out.extend(ents.device_operations(d["dev_eui"], history.get(d["dev_eui"], [])))
    return out


def _select(entities: list[dict[str, Any]], types: list[str] | None, ids: list[str] | None,
            pred: query.Predicate | None) -> list[dict[str, Any]]:
    return [e for e in entities
            if (types is None or e["type"] in types) and (ids is None or e["id"] in ids)
            and (pred is None or pred(ents.key_values(e)))]


# Parameters each operation understands; any other is refused rather than silently ignored (a
# client asking for a geo-query must not get unfiltered entities back).
_QUERY = {"type", "id", "q", "attrs", "limit", "offset", "count", "options", "format"}
_TEMPORAL = {"timerel", "timeAt", "endTimeAt", "lastN"}
_RETRIEVE = {"attrs", "options", "format"}


def _known(params: dict[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadRequest("parameter %s is not supported by this API (supported: %s)" % (
            ", ".join(unknown), ", ".join(sorted(allowed))))


def _attrs(params: dict[str, str]) -> list[str] | None:
    attrs = query.csv_param(params, "attrs")
    bad = [a for a in attrs or () if not _TYPE_NAME.fullmatch(a)]
    if bad:
        raise BadRequest("not an attribute name: %s" % ", ".join(map(repr, bad)))
    return attrs


def _project(entity: dict[str, Any], attrs: list[str] | None) -> dict[str, Any]:
    """Only the attributes asked for (attrs, clause 5.7.2), with id and type."""
    if attrs is None:
        return entity
    return {k: v for k, v in entity.items() if k in ("id", "type") or k in attrs}


def _count(params: dict[str, str]) -> bool:
    if params.get("count") not in (None, "true", "false"):
        raise BadRequest("count must be true or false")
    return params.get("count") == "true"


def _euis(ids: list[str] | None) -> list[str] | None:
    if ids is None:
        return None
    return sorted({o[1] for o in map(ours, ids) if o is not None})


def query_entities(store: Store, opts: Options, params: dict[str, str], temporal: bool = False):
    """GET /entities and /temporal/entities: type, id, q, attrs, limit/offset, count; temporal: timerel …

    With attrs, only entities that have at least one of the attributes are matched, and only those
    attributes are returned (clause 5.7.2)."""
    _known(params, _QUERY | _TEMPORAL if temporal else _QUERY)
    types, ids, attrs = _types(params), _ids(params), _attrs(params)
    pred = query.q_filter(params.get("q"))
    limit, offset = query.page(params)
    simplified, count = _key_values(params), _count(params)
    tr = query.temporal(params) if temporal else None
    entities = _select(_render(store, opts, _euis(ids), tr), types, ids, pred)
    if attrs is not None:
        entities = [e for e in entities if any(a in e for a in attrs)]
    headers = {}
    if count:
        headers["NGSILD-Results-Count"] = str(len(entities))
    selected = [_project(e, attrs) for e in entities[offset:offset + limit]]
    body = [ents.key_values(e) for e in selected] if simplified else selected
    return 200, body, headers


def retrieve_entity(store: Store, opts: Options, entity_id: str, params: dict[str, str], temporal: bool = False):
    """GET /entities/{id} and /temporal/entities/{id}."""
    _known(params, _RETRIEVE | _TEMPORAL if temporal else _RETRIEVE)
    _check_uri(entity_id)
    simplified, attrs = _key_values(params), _attrs(params)
    tr = query.temporal(params) if temporal else None
    mine = ours(entity_id)
    found = [] if mine is None else [e for e in _render(store, opts, [mine[1]], tr) if e["id"] == entity_id]
    if not found:
        raise NotFound("no entity %s" % entity_id)
    entity = _project(found[0], attrs)
    return 200, (ents.key_values(entity) if simplified else entity), {}


def entity_types(store: Store, opts: Options, params: dict[str, str]):
    """GET /types: the types that have at least one entity now (clause 5.7.5, EntityTypeList)."""
    _known(params, set())
    present = sorted({e["type"] for e in _render(store, opts, None)})
    return 200, {"id": "urn:ngsi-ld:EntityTypeList:edge", "type": "EntityTypeList", "typeList": present}, {}
