"""Per-edge sequence tracking: gaps (a jump, a late arrival that fills one, a tail a heartbeat reveals), the
resend ranges they call for, and when the periodic resend sweep is due.

Each edge numbers its events 1, 2, 3, ...; the hub keeps the lowest and highest seq stored per edge and the
missing ranges in between as ``SeqGap`` rows stamped with the hub clock's time of detection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from compound import wire
from compound.clock import Clock
from hub.db import EdgeRecord, SeqGap

__all__ = ["MAX_HEARTBEAT_LEAD", "Resends", "SweepSchedule", "sweep_ranges", "tail_gap", "track_seq"]

log = logging.getLogger(__name__)

MAX_HEARTBEAT_LEAD: Final = wire.MAX_RESEND_SEQS
"""How far past the highest stored seq a heartbeat's ``seq`` is taken at its word. Further is implausible
(a forged or corrupt heartbeat: ``seq`` 10**9 would otherwise record a gap of a billion and move the edge's
last seq there): it is counted in ``seq_anomalies`` and logged, records no gap, and the hub asks only for the
next ``MAX_HEARTBEAT_LEAD`` seqs (one request), as it would for a real edge far ahead: those arrive, and the
next sweep asks for the following ones."""

Resends = list[tuple[str, int, int | None]]
"""(edge, from_seq, to_seq) ranges to ask an edge for; ``to_seq`` None: everything after ``from_seq``."""


def track_seq(session: Session, edge: EdgeRecord, seq: int, now: datetime, resends: Resends) -> None:
    """Record skipped sequence numbers; a late arrival fills (shrinks or splits) the gap it falls in."""
    if edge.max_seq is None or edge.min_seq is None:
        edge.min_seq = edge.max_seq = seq
        return
    if seq > edge.max_seq:
        if seq > edge.max_seq + 1:
            session.add(SeqGap(edge=edge.edge, from_seq=edge.max_seq + 1, to_seq=seq - 1, detected_at=now))
            resends.append((edge.edge, edge.max_seq + 1, seq - 1))
            log.warning("edge %s skipped seq %d..%d", edge.edge, edge.max_seq + 1, seq - 1)
        edge.max_seq = seq
        return
    if seq < edge.min_seq:
        # Older than anything seen (an outbox replayed after the hub's first message): a new lower bound.
        if seq < edge.min_seq - 1:
            session.add(SeqGap(edge=edge.edge, from_seq=seq + 1, to_seq=edge.min_seq - 1, detected_at=now))
            resends.append((edge.edge, seq + 1, edge.min_seq - 1))
        edge.min_seq = seq
        return
    session.flush()
    gap = session.scalars(
        select(SeqGap).where(SeqGap.edge == edge.edge, SeqGap.from_seq <= seq, SeqGap.to_seq >= seq)
    ).first()
    if gap is None:
        # Same seq, new event id: the edge reused a number (lost its state?). Count it, keep going.
        edge.seq_anomalies += 1
        log.warning("edge %s reused seq %d with a new event id", edge.edge, seq)
        return
    if gap.from_seq == gap.to_seq:
        session.delete(gap)
    elif seq == gap.from_seq:
        gap.from_seq += 1
    elif seq == gap.to_seq:
        gap.to_seq -= 1
    else:
        session.add(SeqGap(edge=edge.edge, from_seq=seq + 1, to_seq=gap.to_seq, detected_at=gap.detected_at))
        gap.to_seq = seq - 1


def tail_gap(session: Session, edge: EdgeRecord, beat: wire.Heartbeat, now: datetime, resends: Resends) -> None:
    """A heartbeat past the last stored seq: ask for the rest; with an empty outbox, it is also a lost tail.
    One more than ``MAX_HEARTBEAT_LEAD`` ahead is an anomaly: counted, and only the next seqs are asked for."""
    last = edge.max_seq or 0
    if beat.seq <= last:
        return
    if beat.seq - last > MAX_HEARTBEAT_LEAD:
        edge.seq_anomalies += 1
        log.warning(
            "edge %s heartbeat claims seq %d, %d past the last stored %d (plausible: %d): no gap recorded, "
            "asking for %d..%d only",
            edge.edge, beat.seq, beat.seq - last, last, MAX_HEARTBEAT_LEAD, last + 1, last + MAX_HEARTBEAT_LEAD,
        )  # fmt: skip
        resends.append((edge.edge, last + 1, last + MAX_HEARTBEAT_LEAD))
        return
    resends.append((edge.edge, last + 1, beat.seq))
    if beat.outbox_depth or edge.max_seq is None:
        return
    session.add(SeqGap(edge=edge.edge, from_seq=edge.max_seq + 1, to_seq=beat.seq, detected_at=now))
    log.warning(
        "edge %s reports seq %d with an empty outbox; events after %d never arrived", edge.edge, beat.seq, edge.max_seq
    )
    edge.max_seq = beat.seq


def sweep_ranges(
    session: Session,
    edges: Iterable[str],
    cutoff: datetime,
    *,
    open_ended: bool,
    detected_before: datetime | None = None,
) -> Resends:
    """What to ask again: every gap detected since ``cutoff`` (and before ``detected_before``, if given: with
    replicas sharing the stream a gap is often another replica's batch not yet committed) and every tail a
    heartbeat showed (at most ``MAX_HEARTBEAT_LEAD`` seqs past the last stored one); ``open_ended``:
    also anything before the first and after the last stored seq of each of ``edges`` (from 1 if none)."""
    records = {r.edge: (r.min_seq, r.max_seq, r.heartbeat) for r in session.scalars(select(EdgeRecord))}
    query = select(SeqGap.edge, SeqGap.from_seq, SeqGap.to_seq).where(SeqGap.detected_at >= cutoff)
    if detected_before is not None:
        query = query.where(SeqGap.detected_at < detected_before)
    gaps = session.execute(query.order_by(SeqGap.edge, SeqGap.from_seq)).all()
    ranges: Resends = [(edge, from_seq, to_seq) for edge, from_seq, to_seq in gaps]
    for edge in edges:
        min_seq, max_seq, beat = records.get(edge, (None, None, None))
        beat_seq = beat.get("seq") if isinstance(beat, dict) else None
        if isinstance(beat_seq, int) and beat_seq > (max_seq or 0):
            ranges.append((edge, (max_seq or 0) + 1, min(beat_seq, (max_seq or 0) + MAX_HEARTBEAT_LEAD)))
        if open_ended:
            if min_seq is not None and min_seq > 1:
                ranges.append((edge, 1, min_seq - 1))
            ranges.append((edge, (max_seq or 0) + 1, None))
    return ranges


class SweepSchedule:
    """When to sweep: ``settle_s`` after each subscribe (open-ended), then every ``every_s``, on ``clock``."""

    def __init__(self, clock: Clock, *, settle_s: float, every_s: float) -> None:
        self.clock = clock
        self.settle_s = settle_s
        self.every_s = every_s
        self._resync_at: float | None = None
        self._next = clock.monotonic()

    def subscribed(self) -> None:
        """A subscription was acknowledged: nothing can be missed any more, ask for what was once settled."""
        self._resync_at = self.clock.monotonic() + self.settle_s

    def due(self) -> bool | None:
        """``None`` if no sweep is due; else whether it is the open-ended one. Due sweeps are marked done."""
        now = self.clock.monotonic()
        resync = self._resync_at is not None and now >= self._resync_at
        if not resync and now < self._next:
            return None
        if resync:
            self._resync_at = None
        self._next = now + self.every_s
        return resync
