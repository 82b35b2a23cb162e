"""Resend requests: the hub asks an edge to resend journaled events it never stored (``cmd/resend``).

A broker may acknowledge an event to the edge and still never deliver it to the hub (amqtt 0.12 keeps no
sessions across its restart, none for anonymous clients, and never resends unacknowledged messages). The
edge keeps a journal of what it sent; the hub asks for what it misses: a recorded seq gap, a heartbeat
whose ``seq`` is past the last stored one, and on every (re)subscribe everything after the last stored seq.
Requests are rate-limited per edge: no seq is asked for twice within ``min_interval_s``, and at most
``max_per_edge`` requests go to one edge within ``min_interval_s`` whatever asks (many gaps, forged seqs);
what is left is asked for again by the ingestor's periodic sweep.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable

from compound import wire
from compound.config import Compound
from compound.seqranges import RecentRanges

__all__ = ["MAX_REQUESTS_PER_CALL", "MAX_REQUESTS_PER_EDGE", "ResendRequester"]

log = logging.getLogger(__name__)

MAX_REQUESTS_PER_CALL = 16
"""Most requests one call sends (a range wider than this many ``MAX_RESEND_SEQS`` is asked for in turns)."""

MAX_REQUESTS_PER_EDGE = 64
"""Most requests one edge gets within ``min_interval_s`` (the default of ``max_per_edge``): room for a full
journal replay (100 000 seqs, 10 requests) and dozens of gaps, and a bound whatever an edge's topics carry."""


class ResendRequester:
    """Builds, rate-limits and publishes resend request for the edges of one compound."""

    def __init__(
        self,
        compound: Compound,
        publish: Callable[[str, bytes], bool],
        *,
        requested_by: str = "hub",
        min_interval_s: float = 10.0,
        max_per_edge: int = MAX_REQUESTS_PER_EDGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.compound = compound
        self.publish = publish
        self.requested_by = requested_by[:64]
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._edges = set(compound.edges())
        self.max_per_edge = max_per_edge
        """Most requests one edge gets within ``min_interval_s``, however many ranges are missing."""
        self._recent: dict[str, RecentRanges] = {}
        self._sent_at: dict[str, deque[float]] = {}
        self.sent = 0
        self.refused = 0
        self.throttled = 0
        """Calls cut short by the per-edge budget (the rest is asked for by a later sweep)."""

    def topic(self, edge: str) -> str:
        """The command topic of one edge."""
        return wire.topic(
            self.compound.id, edge, wire.MessageType.CMD, wire.RESEND_COMMAND, prefix=self.compound.prefix
        )

    def request(self, edge: str, from_seq: int, to_seq: int | None = None) -> int:
        """Ask ``edge`` for ``from_seq..to_seq`` (None: up to its last); return how many requests went out."""
        if edge not in self._edges:
            self.refused += 1
            log.warning("no resend request for unknown edge %r (not in the config)", edge)
            return 0
        from_seq = max(0, from_seq)
        if to_seq is not None and to_seq < from_seq:
            self.refused += 1
            log.warning("no resend request for edge %s: empty range %d..%d", edge, from_seq, to_seq)
            return 0
        recent = self._recent.setdefault(edge, RecentRanges(self.min_interval_s, clock=self._clock))
        limit = wire.MAX_RESEND_SEQS
        hi = to_seq if to_seq is not None else from_seq + limit - 1
        budget = min(MAX_REQUESTS_PER_CALL, self._budget_left(edge))
        sent = 0
        for lo, part_hi in recent.take(from_seq, hi):
            start = lo
            while start <= part_hi and sent < budget:
                end = min(part_hi, start + limit - 1)
                open_ended = to_seq is None and end == hi
                if not self._send(edge, start, None if open_ended else end):
                    recent.forget(start, part_hi)
                    return sent
                self._sent_at[edge].append(self._clock())
                sent += 1
                start = end + 1
            if start <= part_hi:
                recent.forget(start, part_hi)  # over the budget: asked for on a later sweep
                if sent >= budget and budget < MAX_REQUESTS_PER_CALL:
                    self.throttled += 1
                    log.debug("resend requests to %s throttled: %d within %.0f s", edge, self.max_per_edge,
                              self.min_interval_s)  # fmt: skip
        return sent

    def _budget_left(self, edge: str) -> int:
        """How many more requests ``edge`` may get now (``max_per_edge`` per ``min_interval_s``)."""
        times = self._sent_at.setdefault(edge, deque())
        now = self._clock()
        while times and now - times[0] >= self.min_interval_s:
            times.popleft()
        return max(0, self.max_per_edge - len(times))

    def _send(self, edge: str, from_seq: int, to_seq: int | None) -> bool:
        request = wire.ResendRequest(
            id=uuid.uuid4().hex,
            compound=self.compound.id,
            edge=edge,
            from_seq=from_seq,
            to_seq=to_seq,
            requested_by=self.requested_by,
        )
        if not self.publish(self.topic(edge), wire.dump(request)):
            log.info("resend request to %s for seq %d..%s not sent (not connected)", edge, from_seq, to_seq or "")
            return False
        self.sent += 1
        log.info("asked edge %s to resend seq %d..%s", edge, from_seq, "" if to_seq is None else to_seq)
        return True
