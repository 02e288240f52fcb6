"""One page of several replicas' pages: a lookup of every partition (platform/forwarding.py
``every``) asks each replica for the first items after the page token among its partitions;
the first ``size`` of all of them, by the page's order, are the first ``size`` overall."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def merged(
    pages: Iterable[Sequence[T]], key: Callable[[T], str], size: int, more: bool
) -> tuple[list[T], str]:
    """The merged page and its next page token (the last item's key, "" at the end).
    ``more``: a replica said it has more than it gave."""
    items = sorted((item for page in pages for item in page), key=key)
    page = items[:size]
    return page, key(page[-1]) if page and (more or len(items) > size) else ""
