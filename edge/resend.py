"""Resends requested by the hub: ``cmd/resend`` -> journaled events back into the outbox.

The hub asks for a seq range when it sees a gap, a heartbeat ahead of what it stored, or on (re)connect.
The edge answers by re-enqueuing the journaled events of that range (same id, same payload; the hub
dedups by id). A bad request is logged with its reason and ignored; a range resent within the last
``min_interval_s`` is not resent again (overlapping requests merge), and events still waiting in the
outbox are skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from compound import wire
from compound.seqranges import RecentRanges
from edge.outbox import Outbox

__all__ = ["ResendHandler", "ResendStats"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ResendStats:
    """Counters of one agent run."""

    requests: int = 0
    rejected: int = 0
    requeued: int = 0
    rejections: dict[str, int] = field(default_factory=dict)


class ResendHandler:
    """Validates resend request for one edge and requeues the journaled events they name."""

    def __init__(
        self,
        outbox: Outbox,
        compound: str,
        edge: str,
        *,
        prefix: str = wire.DEFAULT_PREFIX,
        min_interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.compound = compound
        self.edge = edge
        self.topic = wire.topic(compound, edge, wire.MessageType.CMD, wire.RESEND_COMMAND, prefix=prefix)
        self.recent = RecentRanges(min_interval_s, clock=clock)
        self.stats = ResendStats()

    def _reject(self, reason: str, detail: str, topic: str) -> int:
        self.stats.rejected += 1
        self.stats.rejections[reason] = self.stats.rejections.get(reason, 0) + 1
        log.warning("ignoring resend request on %.120s: %s: %.200s", topic, reason, detail)
        return 0

    def handle(self, topic: str, payload: bytes) -> int:
        """Apply one request; return how many events were requeued. Never raises on bad input."""
        self.stats.requests += 1
        if topic != self.topic:
            # amqtt 0.12 also delivers retained messages of filters *other* clients subscribed (edge status):
            # counted, but not worth a warning.
            self.stats.rejections["wrong_topic"] = self.stats.rejections.get("wrong_topic", 0) + 1
            self.stats.rejected += 1
            log.debug("not a resend request (topic %.120s), ignored", topic)
            return 0
        try:
            request: wire.ResendRequest = wire.parse_command(wire.RESEND_COMMAND, payload)
        except wire.WireError as exc:
            return self._reject(exc.reason, exc.message, topic)
        if (request.compound, request.edge) != (self.compound, self.edge):
            return self._reject(
                "topic_payload_mismatch", f"request for {request.compound}/{request.edge}, this is {self.edge}", topic
            )
        last = self.outbox.last_seq()
        hi = min(request.last, last)
        if request.from_seq > hi:
            log.debug("resend %s from %s: nothing at or after seq %d (last %d)", request.id, request.requested_by,
                      request.from_seq, last)  # fmt: skip
            return 0
        requeued: list[int] = []
        for lo, part_hi in self.recent.take(request.from_seq, hi):
            seqs = self.outbox.requeue(lo, part_hi)
            requeued += seqs
            if not seqs or seqs[-1] < part_hi:
                # Not all resent (outbox room, still pending, or pruned): a later request may try the rest.
                self.recent.forget(seqs[-1] + 1 if seqs else lo, part_hi)
        self.stats.requeued += len(requeued)
        first_kept = self.outbox.journal_bounds()[0]
        log.info(
            "resend %s from %s: seq %d..%s -> %d event(s) requeued%s",
            request.id,
            request.requested_by,
            request.from_seq,
            "" if request.to_seq is None else request.to_seq,
            len(requeued),
            f" (journal starts at seq {first_kept})" if first_kept > request.from_seq else "",
        )
        return len(requeued)
