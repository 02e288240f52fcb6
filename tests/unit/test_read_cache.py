"""The read cache in front of a writer's table: reads served once, absent keys too, writes and
deletions seen at once, bounded, and forgotten on demand."""

from __future__ import annotations

from ipcoord.platform.read_cache import ReadCache
from ipcoord.platform.staged import Stage


class CountingTable(dict):
    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.reads = 0

    def __getitem__(self, key):
        self.reads += 1
        return super().__getitem__(key)


def test_a_value_is_read_from_the_table_once():
    table = CountingTable({"a": 1})
    cache = ReadCache(table, max_entries=10)
    assert cache["a"] == 1 and cache.get("a") == 1 and "a" in cache
    assert table.reads == 1


def test_an_absent_key_is_remembered_as_absent_until_written():
    table = CountingTable()
    cache = ReadCache(table, max_entries=10)
    assert cache.get("x") is None and "x" not in cache
    assert table.reads == 1
    cache["x"] = 2
    assert cache["x"] == 2 and table["x"] == 2


def test_a_deletion_reaches_the_table_and_the_cache():
    table = CountingTable({"a": 1})
    cache = ReadCache(table, max_entries=10)
    assert cache["a"] == 1
    assert cache.pop("a") == 1
    assert "a" not in cache and "a" not in table
    assert cache.pop("a", None) is None


def test_the_least_recently_used_value_goes_first():
    table = CountingTable({k: k for k in "abc"})
    cache = ReadCache(table, max_entries=2)
    cache["a"], cache["b"]
    cache["a"]
    cache["c"]
    reads = table.reads
    cache["a"]
    assert table.reads == reads
    cache["b"]
    assert table.reads == reads + 1


def test_forgetting_reads_the_table_again():
    table = CountingTable({"a": 1})
    cache = ReadCache(table, max_entries=10)
    cache["a"]
    dict.__setitem__(table, "a", 5)  # written behind the cache (a changelog recovery)
    assert cache["a"] == 1
    cache.forget()
    assert cache["a"] == 5


def test_bulk_reads_go_to_the_table_and_fill_nothing():
    table = CountingTable({"a": 1, "b": 2})
    cache = ReadCache(table, max_entries=10)
    assert list(cache.values()) == [1, 2] and dict(cache.items()) == table
    assert sorted(cache) == ["a", "b"] and len(cache) == 2
    cache["a"]
    assert table.reads == 1


def test_a_discarded_command_makes_the_stage_forget_its_caches():
    table = CountingTable({"a": 1})
    stage = Stage()
    staged = stage.wrap("t", ReadCache(table, max_entries=10))
    assert staged["a"] == 1
    stage.discard()  # a command failed half-way: its reads may have been changed in place
    assert staged["a"] == 1
    assert table.reads == 2


def test_over_a_store_of_objects_copies_keep_in_place_changes_out_of_the_table():
    table: dict = {}  # Faust's memory store keeps the objects themselves
    stage = Stage()
    staged = stage.wrap("t", ReadCache(table, max_entries=10, copy=lambda v: list(v)))
    staged["a"] = [1]
    stage.apply(stage.take())
    staged["a"].append(2)  # a command changes the value in place, then fails
    assert table["a"] == [1]
    stage.discard()
    assert staged["a"] == [1]
