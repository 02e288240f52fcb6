"""Open Subscribe streams on this replica, woken when a notification of their recipient is on
the broker.

A stream sends a recipient's notifications in sequence order, each once, from its cursor on:
first those already kept, then each new one as it is told here. It never sends one whose fact
the broker has not acknowledged yet (``sendable_up_to``): nothing reaches a client that a crash
could take back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class LiveStreams:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}
        # recipient -> sequences recorded and sent to the broker, not acknowledged yet.
        self._unacked: dict[str, set[int]] = {}

    def publishing(self, recipient: str, sequence: int) -> None:
        self._unacked.setdefault(recipient, set()).add(sequence)

    def told(self, recipient: str, sequence: int) -> None:
        """The broker has ``sequence``: streams of ``recipient`` may send it."""
        unacked = self._unacked.get(recipient)
        if unacked is not None:
            unacked.discard(sequence)
            if not unacked:
                del self._unacked[recipient]
        for woken in self._waiting.get(recipient, ()):
            woken.set()

    def sendable_up_to(self, recipient: str, last: int) -> int:
        """The highest sequence a stream may send, ``last`` being the highest recorded."""
        unacked = self._unacked.get(recipient)
        return min(last, min(unacked) - 1) if unacked else last

    def wake_all(self) -> None:
        """An assignment: every stream looks again (and ends if its recipient moved)."""
        for events in self._waiting.values():
            for woken in events:
                woken.set()

    @contextmanager
    def listening(self, recipient: str) -> Iterator[asyncio.Event]:
        woken = asyncio.Event()
        self._waiting.setdefault(recipient, set()).add(woken)
        try:
            yield woken
        finally:
            events = self._waiting.get(recipient)
            if events is not None:
                events.discard(woken)
                if not events:
                    del self._waiting[recipient]
