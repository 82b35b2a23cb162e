"""After the commit: what a stored batch hands on (resend requests, alarm changes to the live feed, messages to
the time-series sink), each consumer isolated so that none can stop ingest. Notifications are not handed on
here: they are rows written in the batch's own transaction (``hub.notify``), delivered by the dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from compound import wire
from hub.alarms.changes import AlarmChanges
from hub.alarms.lifecycle import Transition
from hub.ingest.sequence import Resends
from hub.ingest.validate import WireMessage
from hub.timeseries.base import SeriesSink

__all__ = ["BatchOutcome", "ResendCallback", "fan_out"]

log = logging.getLogger(__name__)

ResendCallback = Callable[[str, int, int | None], object]
"""Called with (edge, from_seq, to_seq) for each range a batch found missing (``ResendRequester.request``)."""


@dataclass(slots=True)
class BatchOutcome:
    """What one transaction produced, to be handed on once (and only if) it has committed."""

    transitions: list[Transition] = field(default_factory=list)
    series: list[WireMessage] = field(default_factory=list)
    dead: int = 0
    duplicates: int = 0
    resends: Resends = field(default_factory=list)
    jobs: int = 0
    """Notification jobs written (due now): the dispatcher is woken for them."""

    def extend(self, other: BatchOutcome) -> None:
        """Add what another (committed) transaction produced."""
        self.transitions += other.transitions
        self.series += other.series
        self.dead += other.dead
        self.duplicates += other.duplicates
        self.resends += other.resends
        self.jobs += other.jobs


def fan_out(
    outcome: BatchOutcome,
    *,
    changes: AlarmChanges,
    series: SeriesSink | None,
    on_resend: ResendCallback | None,
) -> None:
    """Hand a committed batch on: resend requests, then alarm changes, then series."""
    if on_resend is not None:
        for edge, from_seq, to_seq in outcome.resends:
            try:
                on_resend(edge, from_seq, to_seq)
            except Exception:  # asking for a resend must never stop ingest
                log.exception("resend request to %s failed", edge)
    for transition in outcome.transitions:
        changes.publish(transition.change)
    if series is not None:
        for msg in outcome.series:
            try:
                if isinstance(msg, wire.Event):
                    series.event(msg)
                elif isinstance(msg, wire.Reading):
                    series.reading(msg)
                elif isinstance(msg, wire.Heartbeat):
                    series.heartbeat(msg)
                elif isinstance(msg, wire.Status):
                    series.status(msg)
            except Exception:  # the time-series side must never stop alarms
                log.exception("series sink failed on a %s from %s", msg.type, msg.edge)
