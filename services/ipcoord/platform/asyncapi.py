"""The AsyncAPI 3 document of the shared log, generated from the topic registry (topics.py) and
the protobuf contract: every topic as a channel (its address, partitions, key and config as
Kafka bindings), who sends and who receives it as operations, and the messages with their
protobuf schema and the headers every record carries (platform/codec.py: CloudEvents binary
mode). `docs/asyncapi.yaml` is this document; a test fails when it is stale:

    .venv/bin/python -m ipcoord.platform.asyncapi > docs/asyncapi.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from ipcoord.platform import codec
from ipcoord.platform.topics import DEADLETTER, INTAKE_REPLIES, TOPICS, TopicSpec
from ipcoord.v1 import envelope_pb2

PROTOS = Path(__file__).resolve().parents[3] / "protos"
_PROTOBUF = "application/vnd.google.protobuf;version=3"
# Every body type an Envelope may carry, as the contract declares them.
BODY_TYPES = sorted(
    f.message_type.full_name for f in envelope_pb2.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields
)


def _message_of(spec: TopicSpec) -> str:
    if spec is DEADLETTER:
        return "DeadLetter"
    if spec.value == INTAKE_REPLIES.value:  # every service's replies topic
        return "CommandReply"
    return "Envelope"


def _channel_id(spec: TopicSpec) -> str:
    return spec.name.replace(".", "-")


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in TOPICS:
        cid, message = _channel_id(spec), _message_of(spec)
        channels[cid] = {
            "address": spec.name,
            "title": spec.name,
            "description": f"{spec.description} Key: {spec.key}. Value: {spec.value}.",
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
            "bindings": {
                "kafka": {
                    "topic": spec.name,
                    "partitions": spec.partitions,
                    "topicConfiguration": {
                        "cleanup.policy": [spec.config()["cleanup.policy"]],
                        "retention.ms": spec.retention_ms,
                    },
                    "bindingVersion": "0.5.0",
                }
            },
        }
        for action, services in (("send", spec.producers), ("receive", spec.consumers)):
            for service in services:
                operations[f"{service.value}-{action}s-{cid}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{cid}"},
                    "summary": f"{service.value} {action}s {spec.name}",
                    "messages": [{"$ref": f"#/channels/{cid}/messages/{message}"}],
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "ipcoord shared log",
            "version": "1.0.0",
            "description": (
                "Protobuf events over Apache Kafka between IP bureaus, protection centers, "
                "market regulation, customs and public security. Generated from "
                "services/ipcoord/platform/topics.py and protos/ipcoord/v1/ by "
                "`python -m ipcoord.platform.asyncapi`; do not edit."
            ),
        },
        "defaultContentType": codec.CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "`make kafka-up`; topics may carry an environment's prefix",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": _messages()},
    }


def _messages() -> dict[str, Any]:
    def proto(name: str) -> str:
        return (PROTOS / "ipcoord" / "v1" / name).read_text()

    envelope = {
        "name": "Envelope",
        "title": "ipcoord.v1.Envelope",
        "summary": "One event or command; its body is one of the types listed.",
        "description": "Body types (ce_type): " + ", ".join(BODY_TYPES) + ".",
        "contentType": codec.CONTENT_TYPE,
        "headers": _cloudevents_headers(),
        "payload": {"schemaFormat": _PROTOBUF, "schema": proto("envelope.proto")},
        "bindings": {"kafka": {"key": {"type": "string"}, "bindingVersion": "0.5.0"}},
    }
    return {
        "Envelope": envelope,
        "CommandReply": {
            "name": "CommandReply",
            "title": "ipcoord.v1.CommandReply",
            "summary": "A writer's answer to a gRPC command, for the replica (key) waiting.",
            "contentType": codec.CONTENT_TYPE,
            "payload": {"schemaFormat": _PROTOBUF, "schema": proto("replies.proto")},
        },
        "DeadLetter": {
            "name": "DeadLetter",
            "title": "ipcoord.v1.DeadLetter",
            "summary": "A record no consumer could decode or validate, with the reason.",
            "contentType": codec.CONTENT_TYPE,
            "payload": {"schemaFormat": _PROTOBUF, "schema": proto("envelope.proto")},
        },
    }


def _cloudevents_headers() -> dict[str, Any]:
    def text(description: str) -> dict[str, str]:
        return {"type": "string", "description": description}

    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"],
        "properties": {
            "ce_specversion": {"type": "string", "const": "1.0"},
            "ce_id": text("the envelope's event_id"),
            "ce_source": text("the producing bureau (envelope.producer_bureau)"),
            "ce_type": text("the body message, e.g. ipcoord.v1.CaseFiled"),
            "ce_time": text("when it happened, RFC 3339 (envelope.occurred_at)"),
            "ce_subject": text("the subject key (the record's key)"),
            "ce_dataschema": {"type": "string", "const": codec.DATA_SCHEMA},
            "content-type": {"type": "string", "const": codec.CONTENT_TYPE},
            "ipcoord-event-type": text("the body message, as ce_type"),
            "traceparent": text("W3C trace context"),
        },
    }


def render() -> str:
    return yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
