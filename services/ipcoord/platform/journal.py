"""The write-ahead journal of a single writer: what each command did, recorded in one atomic
local write before any table changes, so a crash can neither lose nor half-apply it.

Why tables alone are not enough: Faust's rocksdb store writes each table change to disk at
once, before the command's facts are acknowledged and its input offset is committed. After a
kill -9 the local state is ahead of what was published, and the changelog replay at start can
roll single keys back to an older value. The journal settles both:

- a redelivered command whose entry exists publishes the recorded facts again, with the same
  event ids (consumers drop the repeats), instead of being decided again on a state that
  already holds its effects;
- after an unclean start, the entries from the first command whose offset was not committed
  on are applied again in their order, so every key they touched gets the value of its latest
  write back, on disk and on the changelog.

It lives in the replica's data directory (next to the rocksdb tables), keeps the newest
``keep`` entries (far more than one commit interval holds) and writes each entry, its index
and the pruning of the oldest in one rocksdb write batch."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from rocksdict import Options, Rdict, WriteBatch

_SEQ = b"s/"  # s/<seq, 8 bytes big-endian> -> header length, header (json), payload
_ID = b"i/"  # i/<entry id> -> seq
_LAST = b"meta/last-seq"
_CLEAN = b"meta/clean"  # present only while the process is stopped cleanly


@dataclass(frozen=True)
class Source:
    """Where a command came from: its input record."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Entry:
    entry_id: str
    source: Source
    payload: bytes


class Journal:
    def __init__(self, path: Path | None, *, keep: int = 20_000) -> None:
        """``path`` None keeps the journal in memory (unit tests, the memory store)."""
        self._keep = keep
        self._db: Rdict | None = None
        self._mem: dict[bytes, bytes] = {}
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._db = Rdict(str(path), Options(raw_mode=True))
        self.was_clean = self._get(_LAST) is None or self._get(_CLEAN) is not None
        self._last = int.from_bytes(self._get(_LAST) or b"\0", "big")
        if self._get(_CLEAN) is not None:
            self._write([], [_CLEAN])  # a crash from now on is an unclean stop

    # ------------------------------------------------------------------------------ writes

    def append(self, entry_id: str, source: Source, payload: bytes) -> None:
        seq = self._last + 1
        header = json.dumps([entry_id, source.topic, source.partition, source.offset]).encode()
        puts = [
            (_SEQ + _seq_bytes(seq), struct.pack(">I", len(header)) + header + payload),
            (_ID + entry_id.encode(), _seq_bytes(seq)),
            (_LAST, _seq_bytes(seq)),
        ]
        deletes = []
        if seq > self._keep:
            oldest = _SEQ + _seq_bytes(seq - self._keep)
            value = self._get(oldest)
            if value is not None:
                deletes += [oldest, _ID + _decode(value).entry_id.encode()]
        self._write(puts, deletes)
        self._last = seq

    def close(self, *, clean: bool) -> None:
        """``clean``: every command handled so far is committed; nothing needs applying again."""
        if clean:
            self._write([(_CLEAN, b"1")], [])
        if self._db is not None:
            self._db.close()
            self._db = None

    # ------------------------------------------------------------------------------- reads

    def get(self, entry_id: str) -> Entry | None:
        seq = self._get(_ID + entry_id.encode())
        value = self._get(_SEQ + seq) if seq is not None else None
        return _decode(value) if value is not None else None

    def uncommitted(self, committed: Mapping[tuple[str, int], int]) -> Iterator[Entry]:
        """The entries from the oldest one whose input offset is not committed (``committed``:
        (topic, partition) -> the next offset the consumer group will read) to the newest."""
        started = False
        for seq in range(max(1, self._last - self._keep + 1), self._last + 1):
            value = self._get(_SEQ + _seq_bytes(seq))
            if value is None:
                continue
            entry = _decode(value)
            source = entry.source
            started = started or source.offset >= committed.get((source.topic, source.partition), 0)
            if started:
                yield entry

    def uncommitted_of(self, topic: str, partition: int, committed: int) -> Iterator[Entry]:
        """The entries of one input partition from ``committed`` (the next offset the group
        will read) on, in order: the redo of a writer whose keys are partitioned like its
        input, so that no other partition's entries are touched (credit records)."""
        for seq in range(max(1, self._last - self._keep + 1), self._last + 1):
            value = self._get(_SEQ + _seq_bytes(seq))
            if value is None:
                continue
            entry = _decode(value)
            source = entry.source
            if (source.topic, source.partition) == (
                topic,
                partition,
            ) and source.offset >= committed:
                yield entry

    # ------------------------------------------------------------------------------ storage

    def _get(self, key: bytes) -> bytes | None:
        if self._db is None:
            return self._mem.get(key)
        return self._db.get(key)

    def _write(self, puts: list[tuple[bytes, bytes]], deletes: list[bytes]) -> None:
        if self._db is None:
            self._mem.update(puts)
            for key in deletes:
                self._mem.pop(key, None)
            return
        batch = WriteBatch(raw_mode=True)
        for key, value in puts:
            batch.put(key, value)
        for key in deletes:
            batch.delete(key)
        self._db.write(batch)


def _seq_bytes(seq: int) -> bytes:
    return seq.to_bytes(8, "big")


def _decode(value: bytes) -> Entry:
    (size,) = struct.unpack_from(">I", value)
    entry_id, topic, partition, offset = json.loads(value[4 : 4 + size])
    return Entry(entry_id, Source(topic, partition, offset), value[4 + size :])
