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
_ID = re.compile(r"urn:ngsi-ld:([A-Za-z]+):([0-9a-f]{16})")


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


def _ids(params: dict[str, str]) -> list[str] | None:
    ids = query.csv_param(params, "id")
    for i in ids or ():
        if not _ID.fullmatch(i):
            raise BadRequest("id %r is not an entity id of this API (urn:ngsi-ld:<Type>:<dev_eui>)" % i)
    return ids


def parse_id(entity_id: str) -> tuple[str, str]:
    m = _ID.fullmatch(entity_id)
    if not m or m.group(1) not in TYPES:
        raise BadRequest("%r is not an entity id of this API (urn:ngsi-ld:<Type>:<dev_eui>)" % entity_id)
    return m.group(1), m.group(2)


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
    out = []
    for d in devices:
        out.extend(ents.device_entities(d, data.get(d["dev_eui"], {}),
                                        bicycle=d["dev_eui"] in opts.bicycle_counters, temporal=tr is not None))
    return out


def _select(entities: list[dict[str, Any]], types: list[str] | None, ids: list[str] | None,
            pred: query.Predicate | None) -> list[dict[str, Any]]:
    return [e for e in entities
            if (types is None or e["type"] in types) and (ids is None or e["id"] in ids)
            and (pred is None or pred(ents.key_values(e)))]


def _euis(ids: list[str] | None) -> list[str] | None:
    return None if ids is None else sorted({parse_id(i)[1] for i in ids})


def query_entities(store: Store, opts: Options, params: dict[str, str], temporal: bool = False):
    """GET /entities and /temporal/entities: type, id, q, limit/offset, count; temporal: timerel …"""
    types, ids = _types(params), _ids(params)
    pred = query.q_filter(params.get("q"))
    limit, offset = query.page(params)
    simplified = _key_values(params)
    tr = query.temporal(params) if temporal else None
    entities = _select(_render(store, opts, _euis(ids), tr), types, ids, pred)
    headers = {}
    if params.get("count") == "true":
        headers["NGSILD-Results-Count"] = str(len(entities))
    elif params.get("count") not in (None, "false"):
        raise BadRequest("count must be true or false")
    selected = entities[offset:offset + limit]
    body = [ents.key_values(e) for e in selected] if simplified else selected
    return 200, body, headers


def retrieve_entity(store: Store, opts: Options, entity_id: str, params: dict[str, str], temporal: bool = False):
    """GET /entities/{id} and /temporal/entities/{id}."""
    entity_type, eui = parse_id(entity_id)
    simplified = _key_values(params)
    tr = query.temporal(params) if temporal else None
    found = [e for e in _render(store, opts, [eui], tr) if e["id"] == entity_id]
    if not found:
        raise NotFound("no entity %s" % entity_id)
    return 200, (ents.key_values(found[0]) if simplified else found[0]), {}


def entity_types(store: Store, opts: Options, params: dict[str, str]):
    """GET /types: the types that have at least one entity now (clause 5.7.5, EntityTypeList)."""
    present = sorted({e["type"] for e in _render(store, opts, None)})
    return 200, {"id": "urn:ngsi-ld:EntityTypeList:edge", "type": "EntityTypeList", "typeList": present}, {}
