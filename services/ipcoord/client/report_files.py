"""Reports to submit, read from a file: JSON lines (each a ReportSubmitted in protobuf's JSON
form) or CSV with one flat row per report (COLUMNS). A line that cannot be read becomes an
error naming the line and the field; the others are still submitted."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format

from ipcoord.v1 import common_pb2, intake_pb2

COLUMNS = (
    "external_ref",
    "title",
    "channel",
    "infringement_type",
    "division_code",
    "right_holder_uscc",
    "right_holder_name",
    "respondent_uscc",
    "respondent_name",
    "platform",
    "seller_id",
    "shop_url",
    "product_fingerprints",  # separated by ";"
    "handling_bureau",
    "special_action_id",
    "description",
)


@dataclass(frozen=True)
class ReportLine:
    line: int
    report: intake_pb2.ReportSubmitted | None
    error: str = ""
    # The reference of a line that could not be read, when it has one.
    external_ref: str = ""


def read_reports(path: Path) -> Iterator[ReportLine]:
    """By the file's suffix: .csv, else JSON lines."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".csv":
            yield from _csv_reports(path)
        else:
            yield from _jsonl_reports(path)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _jsonl_reports(path: Path) -> Iterator[ReportLine]:
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except ValueError as exc:
                yield ReportLine(number, None, f"not JSON: {_short(exc)}")
                continue
            if not isinstance(value, dict):
                yield ReportLine(number, None, "not a report: expected a JSON object")
                continue
            try:
                report = json_format.ParseDict(value, intake_pb2.ReportSubmitted())
            except json_format.ParseError as exc:
                ref = str(value.get("external_ref", ""))
                yield ReportLine(number, None, f"not a report: {_short(exc)}", ref)
                continue
            yield ReportLine(number, report)


def _csv_reports(path: Path) -> Iterator[ReportLine]:
    with path.open(encoding="utf-8", newline="") as source:
        rows = csv.DictReader(source)
        unknown = set(rows.fieldnames or ()) - set(COLUMNS)
        if unknown:
            raise ValueError(
                f"{path}: unknown column(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(COLUMNS)}"
            )
        for number, row in enumerate(rows, start=2):  # line 1 is the header
            try:
                yield ReportLine(number, report_from_row(row))
            except ValueError as exc:
                yield ReportLine(number, None, str(exc), (row.get("external_ref") or "").strip())


def report_from_row(row: dict[str, str]) -> intake_pb2.ReportSubmitted:
    value = {k: (v or "").strip() for k, v in row.items() if k}
    respondent = common_pb2.Respondent(
        entity=common_pb2.Entity(
            uscc=value.get("respondent_uscc", ""), name=value.get("respondent_name", "")
        )
    )
    if value.get("seller_id") or value.get("shop_url"):
        respondent.online_identifiers.add(
            platform=value.get("platform", ""),
            seller_id=value.get("seller_id", ""),
            shop_url=value.get("shop_url", ""),
        )
    return intake_pb2.ReportSubmitted(
        external_ref=value.get("external_ref", ""),
        title=value.get("title", ""),
        description=value.get("description", ""),
        channel=_enum(common_pb2.ReportChannel, "REPORT_CHANNEL_", value.get("channel", "")),
        infringement_type=_enum(
            common_pb2.InfringementType, "INFRINGEMENT_TYPE_", value.get("infringement_type", "")
        ),
        division_code=value.get("division_code", ""),
        right_holder=common_pb2.Entity(
            uscc=value.get("right_holder_uscc", ""), name=value.get("right_holder_name", "")
        ),
        respondents=[respondent],
        product_fingerprints=[f for f in value.get("product_fingerprints", "").split(";") if f],
        handling_bureau=value.get("handling_bureau", ""),
        special_action_id=value.get("special_action_id", ""),
    )


def _enum(enum, prefix: str, text: str) -> int:
    """ "trademark", "TRADEMARK" or the full name; "" is unspecified (intake says if needed)."""
    if not text:
        return 0
    name = text.upper().replace("-", "_").replace(" ", "_")
    name = name if name.startswith(prefix) else prefix + name
    try:
        return enum.Value(name)
    except ValueError:
        known = ", ".join(n.removeprefix(prefix).lower() for n in enum.keys()[1:])
        raise ValueError(f"{prefix.rstrip('_').lower()}: {text!r} is not one of {known}") from None


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
