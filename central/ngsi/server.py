"""HTTP side of the NGSI-LD read API: routing, content negotiation, access token, problem details.

A ThreadingHTTPServer (standard library) with one database connection per request. Answers
application/json with the JSON-LD ``Link`` header of clause 6.3.5, or application/ld+json with the
@context in the body when the client accepts it. Every error is an NGSI-LD problem details
object (clause 5.5.2, RFC 7807): bad parameters 400 BadRequestData, unknown ids 404
ResourceNotFound, a missing or wrong token 401, and a failure of ours 500 InternalError (logged).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from central.ngsi import api
from central.ngsi.models import all_contexts
from central.ngsi.query import BadRequest
from central.ngsi.section import DEFAULT_BIND
from central.ngsi.store import Store

log = logging.getLogger("central.ngsi")

CONTEXT_PATH = api.BASE + "/jsonldContexts/edge.jsonld"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


@dataclass
class ServeConfig:
    dsn: str
    bind: str = DEFAULT_BIND
    allow_remote: bool = False  # binding to a non-loopback address must be asked for
    token: str | None = None  # when set, every request needs "Authorization: Bearer <token>"
    options: api.Options = field(default_factory=api.Options)
    # The web page's routes (central.web.page_routes): (path, query) -> (status, type, body) or None.
    page: Callable[[str, str], tuple[int, str, bytes] | None] | None = None


def split_bind(bind: str, allow_remote: bool) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError("bind must be HOST:PORT, got %r" % bind)
    host = host.strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not allow_remote:
        raise ValueError("refusing to bind %s: not a loopback address (set allow_remote = true to serve it)" % host)
    return host, int(port)


def problem(status: int, kind: str, title: str, detail: str) -> tuple[int, dict[str, Any]]:
    return status, {"type": ERRORS + kind, "title": title, "status": status, "detail": detail}


class Handler(BaseHTTPRequestHandler):
    server: NgsiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self):
        try:
            status, body, headers = self._route()
        except BadRequest as e:
            (status, body), headers = problem(400, "BadRequestData", "Bad request data", str(e)), {}
        except api.NotFound as e:
            (status, body), headers = problem(404, "ResourceNotFound", "Resource not found", str(e)), {}
        except PermissionError as e:
            (status, body), headers = (
                problem(401, "Unauthorized", "Access token required", str(e)),
                {"WWW-Authenticate": "Bearer"},
            )
        except Exception:
            log.exception("request %s failed", self.path)
            (status, body), headers = problem(500, "InternalError", "Internal error", "see the server log"), {}
        self._send(status, body, headers)

    def do_POST(self):
        self._send(
            *problem(
                405,
                "OperationNotSupported",
                "Read-only API",
                "this API serves GET only; write to the platform through MQTT",
            ),
            {"Allow": "GET"},
        )

    do_PUT = do_PATCH = do_DELETE = do_POST

    def _route(self) -> tuple[int, Any, dict[str, str]]:
        cfg = self.server.config
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        if cfg.page is not None and not path.startswith(api.BASE):
            if not path.startswith("/static/") and path not in ("/", "/index.html"):
                self._check_token()  # the page's data routes are guarded like the API
            page = cfg.page(path, parts.query)
            if page is not None:
                return page[0], _Raw(page[1], page[2]), {}
        self._check_token()
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        params: dict[str, str] = {}
        for k, v in pairs:
            if k in params:
                raise BadRequest("parameter %s given twice" % k)
            params[k] = v
        if path == CONTEXT_PATH:
            return 200, {"@context": all_contexts()}, {}
        with Store(cfg.dsn) as store:
            o = cfg.options
            if path == api.BASE + "/entities":
                return api.query_entities(store, o, params)
            if path == api.BASE + "/temporal/entities":
                return api.query_entities(store, o, params, temporal=True)
            if path == api.BASE + "/types":
                return api.entity_types(store, o, params)
            for prefix, temporal in ((api.BASE + "/entities/", False), (api.BASE + "/temporal/entities/", True)):
                if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                    return api.retrieve_entity(store, o, path[len(prefix) :], params, temporal=temporal)
        raise api.NotFound("no resource at %s" % path)

    def _check_token(self):
        token = self.server.config.token
        if token is None:
            return
        got = self.headers.get("Authorization", "")
        if not hmac.compare_digest(got.encode(), ("Bearer " + token).encode()):
            raise PermissionError("send Authorization: Bearer <token>")

    def _send(self, status: int, body: Any, headers: dict[str, str]):
        if isinstance(body, _Raw):
            data, ctype = body.data, body.ctype
        else:
            ld = "application/ld+json" in self.headers.get("Accept", "") and status < 400
            if status >= 400:
                ctype = "application/json"
            elif ld:
                ctype = "application/ld+json"
                body = _with_context(body)
            else:
                ctype = "application/json"
                headers["Link"] = '<%s%s>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"' % (
                    self.server.url,
                    CONTEXT_PATH,
                )
            data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class _Raw:
    def __init__(self, ctype: str, data: bytes):
        self.ctype, self.data = ctype, data


def _with_context(body: Any) -> Any:
    from central.ngsi.entities import with_context

    if isinstance(body, list):
        return [_with_context(b) for b in body]
    if isinstance(body, dict) and body.get("type") in api.TYPES:
        return with_context(body)
    if isinstance(body, dict):
        return {**body, "@context": all_contexts()}
    return body


class NgsiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: ServeConfig):
        self.config = config
        host, port = split_bind(config.bind, config.allow_remote)
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)

    def start_background(self) -> threading.Thread:
        """Serve in a thread (tests and the CLI's --check); stop with shutdown()."""
        t = threading.Thread(target=self.serve_forever, name="ngsi-ld", daemon=True)
        t.start()
        return t
