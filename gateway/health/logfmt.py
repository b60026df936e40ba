"""Structured logs: one JSON object per line, for journald/Loki/Elastic on the gateway.

    logging.basicConfig(level=logging.INFO, handlers=[json_handler()])

Each line: ts (ISO 8601 UTC), level, logger, msg, and exc (the traceback) when there is one,
plus any `extra={...}` fields given to the log call. Secrets never reach the logs in the first
place (the forwarder logs no credentials), so the formatter does not filter.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def json_handler(stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    return handler
