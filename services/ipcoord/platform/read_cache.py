"""A bounded cache of decoded values in front of a table of the single writer.

Reading a Faust table backed by rocksdb costs a JSON encoding of the key, one or two rocksdb
lookups and the decoding of the value's protobuf into domain objects, on every read: about
half of what a GetCase or a ListCases page cost, and a large part of each command's reads.
The writer is the only one who writes its tables while it owns them, so the values it last
wrote or read stay right until it loses the partition; the cache keeps the most recently used
ones (absent keys too) and forgets everything when told the table may have changed behind it:

- at every assignment (another replica may have written the table meanwhile; recovery then
  writes the changelog's values straight into the store);
- when a command fails half-way (``Stage.discard``): evolve changes values in place before
  the stage applies them, so a cached value may hold the changes of a command that never
  happened.

Bulk reads (``values``, ``items``, iteration) go to the table and fill nothing.

Over a store that keeps the objects themselves (Faust's memory store), forgetting is not
enough: the table holds the very object evolve changed. ``copy`` then detaches what goes into
and comes out of the table, so it behaves like rocksdb, which keeps bytes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

_ABSENT = object()


class ReadCache(MutableMapping):
    def __init__(
        self,
        table: MutableMapping,
        *,
        max_entries: int,
        copy: Callable[[Any], Any] | None = None,
    ) -> None:
        self.table = table
        self._max = max_entries
        self._copy = copy
        self._cached: OrderedDict[Any, Any] = OrderedDict()

    def forget(self) -> None:
        self._cached.clear()

    def __getitem__(self, key: Any) -> Any:
        value = self._cached.get(key, _MISS)
        if value is _MISS:
            try:
                value = self.table[key]
            except KeyError:
                value = _ABSENT
            else:
                if self._copy is not None:
                    value = self._copy(value)
            self._keep(key, value)
        else:
            self._cached.move_to_end(key)
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: Any, value: Any) -> None:
        self.table[key] = value if self._copy is None else self._copy(value)
        self._keep(key, value)

    def __delitem__(self, key: Any) -> None:
        try:
            del self.table[key]
        finally:
            self._keep(key, _ABSENT)

    def pop(self, key: Any, *default: Any) -> Any:
        try:
            value = self[key]
        except KeyError:
            if default:
                return default[0]
            raise
        del self[key]
        return value

    def __iter__(self) -> Iterator[Any]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def values(self):  # type: ignore[override]
        return self.table.values()

    def items(self):  # type: ignore[override]
        return self.table.items()

    def _keep(self, key: Any, value: Any) -> None:
        self._cached[key] = value
        self._cached.move_to_end(key)
        if len(self._cached) > self._max:
            self._cached.popitem(last=False)


_MISS = object()
