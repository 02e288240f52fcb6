"""docs/asyncapi.yaml is the AsyncAPI 3 document the registry and the protos make, never a
stale copy; its references all resolve; every topic is a channel with its partitions."""

from __future__ import annotations

from pathlib import Path

import yaml
from ipcoord.platform import asyncapi
from ipcoord.platform.topics import TOPICS

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


def test_the_document_is_the_one_the_registry_and_the_protos_make():
    assert DOCUMENT.read_text() == asyncapi.render(), (
        "docs/asyncapi.yaml is stale: .venv/bin/python -m ipcoord.platform.asyncapi "
        "> docs/asyncapi.yaml (or make asyncapi)"
    )


def _resolve(document: dict, ref: str):
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_every_reference_resolves_and_every_topic_is_a_channel():
    document = yaml.safe_load(DOCUMENT.read_text())
    assert document["asyncapi"] == "3.0.0"
    by_address = {c["address"]: c for c in document["channels"].values()}
    for spec in TOPICS:
        channel = by_address[spec.name]
        assert channel["bindings"]["kafka"]["partitions"] == spec.partitions
        for message in channel["messages"].values():
            assert _resolve(document, message["$ref"])["payload"]["schema"]
    for name, operation in document["operations"].items():
        assert operation["action"] in ("send", "receive"), name
        _resolve(document, operation["channel"]["$ref"])
        for message in operation["messages"]:
            _resolve(document, message["$ref"])
    envelope = document["components"]["messages"]["Envelope"]
    assert "ipcoord.v1.CaseFiled" in envelope["description"]
    assert envelope["headers"]["properties"]["ce_dataschema"]["const"].endswith("Envelope")
