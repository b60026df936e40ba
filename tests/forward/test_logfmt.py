"""Structured log lines: one JSON object each, with extras and tracebacks."""

import io
import json
import logging

from gateway.health.logfmt import json_handler


def test_each_record_is_one_json_line_with_its_extras():
    out = io.StringIO()
    log = logging.getLogger("edge.test.logfmt")
    log.propagate = False
    log.addHandler(json_handler(out))
    log.setLevel(logging.INFO)
    log.warning("broker %s unreachable", "10.0.0.1", extra={"attempt": 3})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["msg"] == "broker 10.0.0.1 unreachable" and first["level"] == "WARNING" and first["attempt"] == 3
    assert first["logger"] == "edge.test.logfmt" and first["ts"].endswith("+00:00")
    assert "ValueError: boom" in second["exc"]
