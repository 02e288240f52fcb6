"""Intake state over the stores the service runs with, for domain tests.

``dicts``: plain dicts, values shared by reference (Faust's memory store behaves so). ``rocksdb``:
every stored table in a real rocksdb database, each value encoded with its table's codec on
write and decoded into new objects on every read, as Faust's rocksdb store does. A change
evolve makes in place and forgets to write back is lost there, while dicts would keep it: the
domain tests run on both: a module that imports ``each_store`` runs every test once per store,
building its states with ``fresh()``."""

from __future__ import annotations

import copy
import dataclasses
import shutil
import tempfile
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from ipcoord.intake.state import DERIVED_INDEXES, IntakeState
from ipcoord.intake.state_codecs import CODECS
from rocksdict import Options, Rdict

STORES = ("dicts", "rocksdb")
_opened: list[tuple[Rdict, str]] = []
_current = ["dicts"]


class RocksTable(MutableMapping):
    """One table inside a shared rocksdb database, under its own key prefix."""

    def __init__(self, db: Rdict, name: str) -> None:
        self._db, self._prefix, self._codec = db, f"{name}\0".encode(), CODECS[name]

    def _key(self, key: str) -> bytes:
        return self._prefix + key.encode()

    def __getitem__(self, key: str) -> Any:
        value = self._db.get(self._key(key))
        if value is None:
            raise KeyError(key)
        return self._codec.decode(value)

    def __setitem__(self, key: str, value: Any) -> None:
        self._db[self._key(key)] = self._codec.encode(value)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        del self._db[self._key(key)]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._db.get(self._key(key)) is not None

    def __iter__(self) -> Iterator[str]:
        for raw in self._db.keys(from_key=self._prefix):
            if not raw.startswith(self._prefix):
                return
            yield raw[len(self._prefix) :].decode()

    def __len__(self) -> int:
        return sum(1 for _ in self)


class StoredTable(MutableMapping):
    """A table as rocksdb keeps it: encoded bytes, decoded into new objects on every read."""

    def __init__(self, name: str, stored: dict, codecs: dict = CODECS) -> None:
        self.codec, self.stored = codecs[name], stored

    def __getitem__(self, key):
        return self.codec.decode(self.stored[key])

    def __setitem__(self, key, value):
        self.stored[key] = self.codec.encode(value)

    def __delitem__(self, key):
        del self.stored[key]

    def __iter__(self):
        return iter(self.stored)

    def __len__(self):
        return len(self.stored)


def new_state(store: str) -> IntakeState:
    if store == "dicts":
        return IntakeState()
    path = tempfile.mkdtemp(prefix="ipcoord-state-")
    db = Rdict(path, Options(raw_mode=True))
    _opened.append((db, path))
    return IntakeState(
        **{
            f.name: {} if f.name in DERIVED_INDEXES else RocksTable(db, f.name)
            for f in dataclasses.fields(IntakeState)
        }
    )


def close_all() -> None:
    while _opened:
        db, path = _opened.pop()
        db.close()
        shutil.rmtree(path, ignore_errors=True)


def snapshot(state: IntakeState) -> dict[str, dict]:
    """Every table's contents as plain dicts of copies, in any store, to compare later."""
    return copy.deepcopy({f.name: dict(getattr(state, f.name)) for f in dataclasses.fields(state)})


def fresh() -> IntakeState:
    """A new, empty state in the store the module's tests are running on."""
    return new_state(_current[0])


@pytest.fixture(scope="module", params=STORES, autouse=True)
def each_store(request):
    """Import into a test module to run all its tests once per store (``fresh()`` states)."""
    _current[0] = request.param
    yield request.param
    close_all()
    _current[0] = "dicts"
