"""The bureau registry: which bureaus exist, their kind and jurisdiction (from configuration)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class BureauKind(StrEnum):
    IP_ADMINISTRATION = "ipa"
    PROTECTION_CENTER = "ppc"
    MARKET_REGULATION = "amr"
    CUSTOMS = "customs"
    PUBLIC_SECURITY = "police"
    COURT = "court"
    MONITORING = "monitor"  # online-monitoring feeds: submit reports, handle no cases


@dataclass(frozen=True)
class Bureau:
    id: str
    kind: BureauKind
    division_code: str


_BUREAU_ID = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
_DIVISION = re.compile(r"^\d{6}$")

# A sensible default for development and the demo: the five kinds of the circular.
DEFAULT_BUREAUS = (
    "cnipa:ipa:100000,ipb-gd:ipa:440000,ipb-sz:ipa:440300,ppc-shenzhen:ppc:440300,"
    "amr-sz:amr:440300,amr-sh:amr:310000,customs-gz:customs:440100,psb-sz:police:440300,"
    "monitor-cnipa:monitor:100000"
)


class BureauRegistry:
    def __init__(self, bureaus: list[Bureau]) -> None:
        self._by_id = {b.id: b for b in bureaus}

    @classmethod
    def parse(cls, text: str) -> BureauRegistry:
        """From "id:kind:division" entries separated by commas or newlines, or a file path."""
        text = text.strip() or DEFAULT_BUREAUS
        if "\n" not in text and ":" not in text and Path(text).is_file():
            text = Path(text).read_text()
        bureaus = []
        for raw in re.split(r"[,\n]", text):
            entry = raw.split("#", 1)[0].strip()
            if not entry:
                continue
            parts = entry.split(":")
            if len(parts) != 3:
                raise ValueError(f"bureau entry {entry!r} is not id:kind:division")
            bureau_id, kind, division = (p.strip() for p in parts)
            if not _BUREAU_ID.match(bureau_id):
                raise ValueError(f"bureau id {bureau_id!r} is not a lower-case slug")
            if not _DIVISION.match(division):
                raise ValueError(f"bureau {bureau_id}: division {division!r} is not 6 digits")
            bureaus.append(Bureau(bureau_id, BureauKind(kind), division))
        return cls(bureaus)

    def get(self, bureau_id: str) -> Bureau | None:
        return self._by_id.get(bureau_id)

    def __contains__(self, bureau_id: object) -> bool:
        return bureau_id in self._by_id

    def __iter__(self):
        return iter(self._by_id.values())
