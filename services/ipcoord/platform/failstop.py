"""Fail-stop: the way out when going on could lose work (a refused publish, a broken
connection, records the consumer skipped)."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def fail_stop(error: BaseException) -> None:
    """Exit at once, committing nothing.

    A graceful stop would commit the consumer's offsets and so mark as done a record whose
    effects never reached the log. Exiting hard leaves it uncommitted; the restarted service
    (Kubernetes restarts it) is handed it again and handles it again, idempotently."""
    log.critical("cannot go on safely; exiting without committing offsets", exc_info=error)
    logging.shutdown()
    os._exit(70)  # EX_SOFTWARE
