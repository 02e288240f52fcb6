"""One line a person reads in an inbox: what happened, to what, by whom."""

from __future__ import annotations

import re

from google.protobuf.message import Message

# The fields that say most about an event, in the order they are told.
_TOLD = (
    ("case_id", "case"),
    ("action_id", "action"),
    ("listing_id", "listing"),
    ("title", "title"),
    ("handling_bureau", "handled by"),
    ("from_bureau", "from"),
    ("to_bureau", "to"),
    ("by_bureau", "by"),
    ("bureau", "bureau"),
    ("department", "department"),
    ("deadline", "deadline"),
    ("reason", "reason"),
)
SUMMARY_MAX = 300


def summary_of(event: Message, subject_key: str) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(event).__name__).lower()
    told = []
    for field_name, label in _TOLD:
        if field_name in event.DESCRIPTOR.fields_by_name:
            value = getattr(event, field_name)
            if isinstance(value, str) and value:
                told.append(f"{label} {value}")
    entity = getattr(event, "entity", None)
    if entity is not None and getattr(entity, "uscc", ""):
        told.append(f"entity {entity.uscc}")
    if not told and subject_key:
        told.append(subject_key)
    line = words[:1].upper() + words[1:] + (": " + ", ".join(told) if told else "")
    return line[:SUMMARY_MAX]
