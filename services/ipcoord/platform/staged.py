"""Tables seen through the writes of the command being handled.

The domain's evolve writes into Staged mappings; nothing reaches the tables until the processor
has recorded the command's whole outcome in the journal and applies the staged writes in one
place. So a crash can never leave a command half-applied without a record of the rest, and a
write the domain forgets to make is missing in every store alike, not hidden by the memory
store's shared references."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from ipcoord.platform.read_cache import ReadCache

DELETED = object()  # a staged deletion

Write = tuple[str, Any, Any]  # (mapping name, key, value or DELETED)


class Staged(MutableMapping):
    def __init__(self, name: str, table: MutableMapping, stage: Stage) -> None:
        self.name = name
        self.table = table
        self._stage = stage

    def __getitem__(self, key: Any) -> Any:
        staged = self._stage.pending.get((self.name, key), _MISSING)
        if staged is _MISSING:
            return self.table[key]
        if staged is DELETED:
            raise KeyError(key)
        return staged

    def __contains__(self, key: object) -> bool:
        staged = self._stage.pending.get((self.name, key), _MISSING)
        if staged is _MISSING:
            return key in self.table
        return staged is not DELETED

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: Any, value: Any) -> None:
        self._stage.pending[(self.name, key)] = value

    def __delitem__(self, key: Any) -> None:
        if key not in self:
            raise KeyError(key)
        self._stage.pending[(self.name, key)] = DELETED

    def __iter__(self) -> Iterator[Any]:
        mine = {k for (name, k) in self._stage.pending if name == self.name}
        for key in self.table:
            if key not in mine:
                yield key
        for key in mine:
            if key in self:
                yield key

    def __len__(self) -> int:
        if not any(name == self.name for name, _ in self._stage.pending):
            return len(self.table)  # outside a command: the table's own count
        return sum(1 for _ in self)


_MISSING = object()


class Stage:
    """The writes of one command, in the order they were made (last write per key wins)."""

    def __init__(self) -> None:
        self.pending: dict[tuple[str, Any], Any] = {}
        self._tables: dict[str, MutableMapping] = {}

    def wrap(self, name: str, table: MutableMapping) -> Staged:
        self._tables[name] = table
        return Staged(name, table, self)

    def table(self, name: str) -> MutableMapping:
        """The mapping behind ``name``, for work outside a command (a rebuild of what is
        derived); writes to it bypass the stage."""
        return self._tables[name]

    def take(self) -> list[Write]:
        writes = [(name, key, value) for (name, key), value in self.pending.items()]
        self.pending = {}
        return writes

    def discard(self) -> None:
        """Drop a failed command's writes. Evolve may have changed values in place before it
        failed, and a cached value is the one the next command would read: caches forget."""
        self.pending = {}
        self.forget_cached()

    def forget_cached(self) -> None:
        for table in self._tables.values():
            if isinstance(table, ReadCache):
                table.forget()

    def apply(self, writes: list[Write]) -> None:
        for name, key, value in writes:
            table = self._tables[name]
            if value is DELETED:
                table.pop(key, None)
            else:
                table[key] = value


def staged_state(
    state_type: type,
    *,
    stage: Stage,
    table: Callable[[str], MutableMapping],
    codecs: dict,
    derived: tuple[str, ...],
    cache_entries: int,
    in_memory: bool,
    unused: tuple[str, ...] = (),
    uncached: tuple[str, ...] = (),
):
    """A service's state as its processor writes it: each stored table (``table(name)``)
    behind a read cache and the stage, each derived index a plain dict behind the stage, and
    each ``unused`` field (one this writer's rules never read: another writer of the service
    keeps it) a mapping that stays empty. Over the memory store, which keeps objects rather
    than bytes, the cache detaches values with the table's codec (read_cache.py). An
    ``uncached`` table has no read cache: one whose every partition keeps its own copy of a
    key (the cache is one per table, and a read inside a record must see that record's
    partition's copy, which is what Faust's store reads there)."""
    return state_type(
        **{
            f.name: stage.wrap(
                f.name,
                Discarding()
                if f.name in unused
                else {}
                if f.name in derived
                else table(f.name)
                if f.name in uncached
                else ReadCache(
                    table(f.name),
                    max_entries=cache_entries,
                    copy=codecs[f.name].copy if in_memory else None,
                ),
            )
            for f in dataclasses.fields(state_type)
        }
    )


class Discarding(MutableMapping):
    """A field another writer keeps: what is written to it here is dropped."""

    def __getitem__(self, key: Any) -> Any:
        raise KeyError(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __delitem__(self, key: Any) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0
