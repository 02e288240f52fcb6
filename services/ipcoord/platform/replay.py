"""Whether a service's state, rebuilt from the shared log alone, equals its live state.

The live state is what the service's tables hold: their changelog topics, which every replica
recovers from (compacted: the last record per key; a tombstone is a deleted key). The rebuilt
state is what each service's replay module computes from its facts topics, written into a
fresh store (a RocksDB per table, as the service keeps them) and read back. Values are
compared as their tables store them (the codec's deterministic bytes), so two equal values are
equal however they were built."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rocksdict import Rdict

from ipcoord.platform.log_reader import Position, records
from ipcoord.platform.settings import Settings
from ipcoord.platform.table_codec import TableCodec
from ipcoord.platform.topics import Service, TopicSpec

# Keys named in a report per kind of difference (the counts are whole).
SHOWN_KEYS = 5


@dataclass
class TableComparison:
    table: str
    live: int
    rebuilt: int
    only_live: list[str] = field(default_factory=list)
    only_rebuilt: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.only_live or self.only_rebuilt or self.different)

    def summary(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "equal": self.equal,
            "live_keys": self.live,
            "rebuilt_keys": self.rebuilt,
            "only_live": len(self.only_live),
            "only_rebuilt": len(self.only_rebuilt),
            "different": len(self.different),
            "examples": (self.only_live + self.only_rebuilt + self.different)[:SHOWN_KEYS],
        }


def changelog(service: Service | str, table: str, partitions: int = 0) -> TopicSpec:
    """A Faust table's changelog topic: "<app id>-<table>-changelog", the app id being the
    service's consumer group (platform/faust_app.py); compacted, as Faust makes it.
    ``partitions``: the table's (to create it); reading takes what the broker has."""
    return TopicSpec(
        name=f"ipcoord-{service}-{table}-changelog",
        partitions=partitions,
        key="the table key (JSON)",
        value="the table's record (protos/ipcoord/v1/<service>_state.proto)",
        producers=(Service(service),),
        consumers=(Service(service),),
        compacted=True,
        description=f"The {service} service's table {table!r}: what its replicas recover.",
    )


def live_tables(
    settings: Settings,
    service: Service | str,
    codecs: Mapping[str, TableCodec],
    per_partition: frozenset[str] = frozenset(),
) -> dict[str, dict[str, bytes]]:
    """Each stored table's keys and values as they are now, from its changelog. A table in
    ``per_partition`` keeps a copy of its values in every partition (intake's case writers'
    identities): each is read as its own, ``<partition>/<key>``, so a copy missing from one
    partition shows."""
    tables: dict[str, dict[str, bytes]] = {}
    for name, table_codec in codecs.items():
        values: dict[str, bytes] = {}
        for record in records(settings, changelog(service, name), Position(from_beginning=True)):
            key = json.loads(record.key)  # Faust's table keys are JSON (str keys: quoted)
            if name in per_partition:
                key = f"{record.partition}/{key}"
            if record.value is None:
                values.pop(key, None)
            else:
                # Through the codec: the bytes the service would store for what it read.
                values[key] = table_codec.encode(table_codec.decode(record.value))
        tables[name] = values
    return tables


def write_store(
    directory: Path, rebuilt: Mapping[str, Mapping[str, Any]], codecs: Mapping[str, TableCodec]
) -> dict[str, dict[str, bytes]]:
    """The rebuilt tables written into a fresh RocksDB per table under ``directory`` (which
    must not exist), and what the store holds, read back."""
    directory.mkdir(parents=True)
    stored: dict[str, dict[str, bytes]] = {}
    for name, table_codec in codecs.items():
        db = Rdict(str(directory / name))
        try:
            for key, value in rebuilt[name].items():
                db[key.encode()] = table_codec.encode(value)
            stored[name] = {key.decode(): value for key, value in db.items()}
        finally:
            db.close()
    return stored


def compare(
    live: Mapping[str, Mapping[str, bytes]], rebuilt: Mapping[str, Mapping[str, bytes]]
) -> list[TableComparison]:
    """Per stored table: the keys only one side has, and the keys whose values differ."""
    comparisons = []
    for name, ours in rebuilt.items():
        theirs = live.get(name, {})
        comparisons.append(
            TableComparison(
                table=name,
                live=len(theirs),
                rebuilt=len(ours),
                only_live=sorted(set(theirs) - set(ours)),
                only_rebuilt=sorted(set(ours) - set(theirs)),
                different=sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k]),
            )
        )
    return comparisons
