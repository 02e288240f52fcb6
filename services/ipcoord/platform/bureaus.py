"""The bureau registry: which bureaus exist, their kind and jurisdiction (from configuration)."""

from __future__ import annotations

import re
from collections.abc import Iterator
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
    # Other state departments that implement joint-discipline measures (development and
    # reform, finance...): they give feedback to credit records and handle no cases.
    DEPARTMENT = "dept"


@dataclass(frozen=True)
class Bureau:
    id: str
    kind: BureauKind
    division_code: str


_BUREAU_ID = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
_DIVISION = re.compile(r"^\d{6}$")
_KINDS = " ".join(k.value for k in BureauKind)

# Development and the demo only: the five kinds of the circular. Never a silent default: an
# unset registry falls back to it only without TLS (see Settings.bureau_registry).
DEMO_BUREAUS = (
    "cnipa:ipa:100000,ipb-gd:ipa:440000,ipb-sz:ipa:440300,ppc-shenzhen:ppc:440300,"
    "amr-sz:amr:440300,amr-sh:amr:310000,customs-gz:customs:440100,psb-sz:police:440300,"
    "monitor-cnipa:monitor:100000,ndrc:dept:100000,mof:dept:100000"
)


class BureauRegistry:
    def __init__(self, bureaus: list[Bureau]) -> None:
        self._by_id = {b.id: b for b in bureaus}

    @classmethod
    def demo(cls) -> BureauRegistry:
        return cls.parse(DEMO_BUREAUS)

    @classmethod
    def parse(cls, text: str) -> BureauRegistry:
        """From "id:kind:division" entries separated by commas or newlines, or a file path.

        Raises ValueError for an empty registry (no entries, or a file with none), a path that
        is not a file, a malformed entry or a bureau listed twice."""
        text = text.strip()
        if not text:
            raise ValueError("is empty: list the bureaus as id:kind:division, or a file of them")
        if ":" not in text and "\n" not in text and "," not in text:
            # Entries always contain ':'; without one the value can only be a path.
            path = Path(text)
            if not path.is_file():
                raise ValueError(f"{text!r} is neither id:kind:division entries nor a file")
            text = path.read_text()
        bureaus: dict[str, Bureau] = {}
        for raw in re.split(r"[,\n]", text):
            entry = raw.split("#", 1)[0].strip()
            if not entry:
                continue
            bureau = _parse_entry(entry)
            if bureau.id in bureaus:
                raise ValueError(f"bureau {bureau.id!r} is listed twice")
            bureaus[bureau.id] = bureau
        if not bureaus:
            raise ValueError("lists no bureaus (only blank lines or comments)")
        return cls(list(bureaus.values()))

    def get(self, bureau_id: str) -> Bureau | None:
        return self._by_id.get(bureau_id)

    def __contains__(self, bureau_id: object) -> bool:
        return bureau_id in self._by_id

    def __iter__(self) -> Iterator[Bureau]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"BureauRegistry({sorted(self._by_id)})"


def _parse_entry(entry: str) -> Bureau:
    parts = entry.split(":")
    if len(parts) != 3:
        raise ValueError(f"bureau entry {entry!r} is not id:kind:division")
    bureau_id, kind, division = (p.strip() for p in parts)
    if not _BUREAU_ID.match(bureau_id):
        raise ValueError(f"bureau id {bureau_id!r} is not a lower-case slug")
    try:
        bureau_kind = BureauKind(kind)
    except ValueError:
        raise ValueError(f"bureau {bureau_id}: kind {kind!r} is not one of {_KINDS}") from None
    if not _DIVISION.match(division):
        raise ValueError(f"bureau {bureau_id}: division {division!r} is not 6 digits")
    return Bureau(bureau_id, bureau_kind, division)
