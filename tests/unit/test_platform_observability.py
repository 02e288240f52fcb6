from __future__ import annotations

import json
import logging
import socket
import urllib.request

from ipcoord.platform import metrics
from ipcoord.platform.logs import configure_logging


def test_json_logs_are_one_object_per_line(capsys):
    configure_logging("INFO", "json")
    logging.getLogger("ipcoord.test").info("case filed", extra={"case_id": "c-1"})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "case filed"
    assert record["level"] == "INFO" and record["logger"] == "ipcoord.test"
    assert record["case_id"] == "c-1"
    configure_logging("WARNING", "text")


def test_metrics_endpoint_serves_ipcoord_metrics():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics.DEAD_LETTERS.labels("probe", "DecodeError").inc()
    metrics.serve_metrics(port)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'ipcoord_dead_letters_total{error_class="DecodeError",service="probe"}' in body
    assert "ipcoord_event_processing_seconds" in body
