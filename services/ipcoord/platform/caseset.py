"""A set of case ids stored as a tree of small table values.

A table value is one record on the table's changelog: a list that grows with the cases (the
cases behind a source-tracing key, the cases enrolled in a special action) passes the broker's
1 MB limit at about 27,000 ids and stops the single writer (issue 6, §2.3). A case set keeps at
most LEAF_SIZE ids in a node; a node that would hold more splits into children by the next
character of the ids, and then keeps only each child's earliest candidate. So every value stays
small, the root names the first candidate in one read, an id added costs one write (and one
per level above when it becomes the first or opens a node), and the ids can be listed in order,
a page at a time, without scanning the table. (A count per set would cost a write on every
level for every id added; nothing decides on it, so it is not kept: counting walks the set.)

Each id has a rank: a time while the member is a candidate for ``first`` (source tracing: the
case's filing time while it is linkable), None otherwise. The tree's shape and every value in
it are a function of the members and their ranks alone, not of the order they came in, so a
replay of the partitioned log in any interleaving writes the same values.

An id can be taken out again (``remove``: a case transferred away from a bureau). A node whose
ids, less the one removed, fit in a leaf becomes a leaf again and its children go, so the shape
stays the one adding the remaining members alone would have built.

Node keys: ``/<name>`` for the root, ``<path>/<name>`` below it, where path is the prefix the
ids below share (case ids have no ``/``, so a key never reads two ways)."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

LEAF_SIZE = 64


@dataclass
class CaseSetFirst:
    """A child node's earliest candidate, kept in its parent: the smallest (rank, id)."""

    case_id: str = ""  # "" when the child holds no candidate
    rank: datetime | None = None


@dataclass
class CaseSetNode:
    # A leaf's ids with their ranks; in an inner node only the id equal to its path, if any.
    members: dict[str, datetime | None] = field(default_factory=dict)
    # Inner nodes: per next character of the ids below, that child's first. None: a leaf.
    children: dict[str, CaseSetFirst] | None = None


Nodes = MutableMapping[str, CaseSetNode]


def add(nodes: Nodes, name: str, case_id: str, rank: datetime | None = None) -> None:
    """Put ``case_id`` in the set ``name`` with ``rank`` (or give it that rank). Writes only the
    nodes that change: the same call twice writes nothing the second time."""
    if not case_id or "/" in case_id:
        raise ValueError(f"not a case id: {case_id!r}")
    path, trail = "", []
    while True:
        key = _key(name, path)
        node = nodes.get(key)
        if node is None:
            node = CaseSetNode()
        if node.children is None or case_id == path:
            break
        char = case_id[len(path)]
        trail.append((key, node, char))
        path += char
    if case_id in node.members and node.members[case_id] == rank:
        return
    node = CaseSetNode({**node.members, case_id: rank}, node.children)
    if node.children is None and len(node.members) > LEAF_SIZE:
        node = _split(nodes, name, path, node)
    nodes[key] = node
    held = _first(node)
    for parent_key, parent, char in reversed(trail):
        if parent.children.get(char) == held:
            return  # the first below did not change: nothing above does
        parent = CaseSetNode(parent.members, {**parent.children, char: held})
        nodes[parent_key] = parent
        held = _first(parent)


def remove(nodes: Nodes, name: str, case_id: str) -> None:
    """Take ``case_id`` out of the set ``name``, leaving the values adding the other members
    would have written: an id not in the set writes nothing. Costs the path to the id, and
    where a node falls back to a leaf, reading the (at most LEAF_SIZE) ids below it."""
    path, trail = "", []  # trail: (path, node) of the inner nodes above the id's node
    while True:
        node = nodes.get(_key(name, path))
        if node is None:
            return
        if node.children is None or case_id == path:
            break
        trail.append((path, node))
        path += case_id[len(path)]
    if case_id not in node.members:
        return
    # Inner nodes hold more than LEAF_SIZE ids below them; those left with LEAF_SIZE become
    # leaves. Deepest first: an ancestor holds at least as many, so the first that keeps more
    # than LEAF_SIZE ends the search.
    top = None
    for upper, held in reversed([*trail, (path, node)]):
        if held.children is None:
            continue
        if sum(1 for _ in islice(_walk(nodes, name, upper, ""), LEAF_SIZE + 2)) > LEAF_SIZE + 1:
            break
        top = upper
    if top is None:
        node = CaseSetNode({c: r for c, r in node.members.items() if c != case_id}, node.children)
    else:
        path, node = top, CaseSetNode(dict(_walk(nodes, name, top, "")))
        del node.members[case_id]
        for below in list(_paths_below(nodes, name, top)):
            del nodes[_key(name, below)]
        trail = [(upper, held) for upper, held in trail if len(upper) < len(top)]
    if node.members or node.children:
        nodes[_key(name, path)] = node
        first_below: CaseSetFirst | None = _first(node)
    else:
        del nodes[_key(name, path)]  # an empty leaf: no node, as if never opened
        first_below = None
    for parent_path, parent in reversed(trail):
        char = path[len(parent_path)]
        if parent.children.get(char) == first_below:
            return  # the first below did not change: nothing above does
        children = {
            c: first_below if c == char else f
            for c, f in parent.children.items()
            if c != char or first_below is not None
        }
        parent = CaseSetNode(parent.members, children)
        nodes[_key(name, parent_path)] = parent
        path, first_below = parent_path, _first(parent)


def first(nodes: Nodes, name: str) -> str:
    """The candidate with the smallest (rank, id), "" if none: one read."""
    root = nodes.get(_key(name, ""))
    return "" if root is None else _first(root).case_id


def ids(nodes: Nodes, name: str, *, after: str = "") -> Iterator[str]:
    """The ids in ascending order, those not above ``after`` skipped without being read."""
    for case_id, _ in items(nodes, name, after=after):
        yield case_id


def items(nodes: Nodes, name: str, *, after: str = "") -> Iterator[tuple[str, datetime | None]]:
    """(id, rank) in ascending order of id."""
    yield from _walk(nodes, name, "", after)


def _walk(nodes: Nodes, name: str, path: str, after: str):
    node = nodes.get(_key(name, path))
    if node is None:
        return
    for case_id in sorted(node.members):  # in an inner node, the path itself: first in order
        if case_id > after:
            yield case_id, node.members[case_id]
    for char in sorted(node.children or ()):
        below = path + char
        if below < after[: len(below)]:
            continue  # every id below sorts before ``after``
        yield from _walk(nodes, name, below, after)


def _paths_below(nodes: Nodes, name: str, path: str) -> Iterator[str]:
    node = nodes.get(_key(name, path))
    for char in (node.children or ()) if node is not None else ():
        yield path + char
        yield from _paths_below(nodes, name, path + char)


def _split(nodes: Nodes, name: str, path: str, node: CaseSetNode) -> CaseSetNode:
    here: dict[str, datetime | None] = {}
    below: dict[str, dict[str, datetime | None]] = {}
    for case_id, rank in node.members.items():
        if case_id == path:
            here[case_id] = rank
        else:
            below.setdefault(case_id[len(path)], {})[case_id] = rank
    children = {}
    for char, members in below.items():
        child = CaseSetNode(members)
        if len(members) > LEAF_SIZE:
            child = _split(nodes, name, path + char, child)
        nodes[_key(name, path + char)] = child
        children[char] = _first(child)
    return CaseSetNode(here, children)


def _first(node: CaseSetNode) -> CaseSetFirst:
    best = min(((r, c) for c, r in node.members.items() if r is not None), default=None)
    for held in (node.children or {}).values():
        if held.case_id and (best is None or (held.rank, held.case_id) < best):
            best = (held.rank, held.case_id)
    return CaseSetFirst() if best is None else CaseSetFirst(best[1], best[0])


def _key(name: str, path: str) -> str:
    return f"{path}/{name}"
