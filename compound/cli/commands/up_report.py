"""The ``compound up --json`` report: one headless run, told by what the hub and the edges expose.

Before the edges start, ``RunReport.begin`` notes each edge outbox's last seq (``Outbox.read_counts``) and
the hub store's high-water marks (``hub.report.mark``), so the report counts this run only. After the
edges finish and before the hub stops, ``drain`` waits for their last events to reach the hub and
``collect`` asks the hub for its ``run_summary`` since the mark.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.outbox import Outbox, OutboxCounts, OutboxUnreadable
from hub.db import Database
from hub.notify.records import NotificationRecord
from hub.report import StoreMark, events_received, mark, run_summary

__all__ = ["RunReport"]

log = logging.getLogger(__name__)

DRAIN_POLL_S = 0.2
"""How often ``drain`` asks again while events are still on their way."""


def outbox_counts(path: Path) -> OutboxCounts | None:
    """An edge outbox's counts, read-only; ``None`` when there is none yet or it cannot be read (logged)."""
    try:
        return Outbox.read_counts(path)
    except OutboxUnreadable as exc:
        log.warning("%s", exc)
        return None


@dataclass(frozen=True, slots=True)
class RunReport:
    """The report of one run: the hub's store and the edges' outboxes, and where they stood before it."""

    db: Database
    outboxes: Mapping[str, Path]
    """Each edge's outbox, by edge id."""
    edge_seq: Mapping[str, int]
    """Each edge's last seq before this run."""
    hub_mark: StoreMark

    @classmethod
    def begin(cls, db: Database, outboxes: Mapping[str, Path]) -> RunReport:
        """Note where the outboxes and the hub's store stand, before the edges start."""
        seqs = {}
        for edge, path in outboxes.items():
            counts = outbox_counts(path)
            seqs[edge] = counts.last_seq if counts else 0
        return cls(db, dict(outboxes), seqs, mark(db))

    def drain(self, timeout: float, cancelled: Callable[[], bool] = lambda: False) -> dict[str, dict[str, Any]]:
        """Per-edge figures once the hub holds every event the edges sent this run (or ``timeout``/``cancelled``)."""
        deadline = time.monotonic() + timeout
        while True:
            figures: dict[str, dict[str, Any]] = {}
            for edge, path in self.outboxes.items():
                counts = outbox_counts(path)
                before = self.edge_seq.get(edge, 0)
                last = counts.last_seq if counts else 0
                produced = last - before
                figures[edge] = {
                    "produced": produced,
                    "first_seq": before + 1 if produced else None,
                    "last_seq": last,
                    "outbox_events_waiting": counts.events_waiting if counts else None,
                    "received": events_received(self.db, edge, before, last),
                }
            missing = sum(f["produced"] - (f["outbox_events_waiting"] or 0) - f["received"] for f in figures.values())
            if missing <= 0 or time.monotonic() > deadline or cancelled():
                for f in figures.values():
                    f["missing"] = f["produced"] - f["received"]
                return figures
            time.sleep(DRAIN_POLL_S)

    def collect(self, edges: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """This run's alarms (the API's fields), events, duplicates, dead letters and seq gaps, as the hub tells.

        ``edges`` (from ``drain``) gains each edge's duplicates, the hub's highest seq and the edge's status.
        """
        summary = run_summary(self.db, self.hub_mark)
        for edge, figures in edges.items():
            known = summary.edges.get(edge)
            figures["duplicates"] = known.duplicates if known else 0
            figures["hub_max_seq"] = known.max_seq if known else None
            figures["status"] = known.status if known else None
        gaps = summary.seq_gaps
        return {
            "alarms": [
                {**a.model_dump(mode="json"), **_notifications(summary.notifications.get(a.id))} for a in summary.alarms
            ],
            "events": {
                "received": summary.events_received,
                "produced": sum(f["produced"] for f in edges.values()),
                "missing": sum(max(0, f["missing"]) for f in edges.values()),
                "drained": all(f["missing"] <= 0 for f in edges.values()),
            },
            "duplicates": summary.duplicates,
            "dead_letters": {"total": sum(summary.dead_letters.values()), "by_reason": summary.dead_letters},
            "seq_gaps": {
                "count": len(gaps),
                "missing": sum(g.missing for g in gaps),
                "gaps": [{"edge": g.edge, "from_seq": g.from_seq, "to_seq": g.to_seq} for g in gaps],
            },
            "edges": edges,
        }


def _notifications(record: NotificationRecord | None) -> dict[str, Any]:
    """An alarm's notifications (level, person, channel, when, result) and escalation timeline, for the report."""
    if record is None:
        return {"notifications": [], "escalation": []}
    return {
        "notifications": [
            {
                "level": job.level,
                "repeat": job.repeat,
                "purpose": job.purpose,
                "person": job.person_id,
                "channel": job.channel,
                "at": job.created_at.isoformat(),
                "result": job.state,
                "delivered_at": job.delivered_at.isoformat() if job.delivered_at else None,
                "attempts": job.attempts,
                "code": job.last_code,
            }
            for job in record.jobs
        ],
        "escalation": [
            {
                "action": step.action,
                "level": step.level,
                "repeat": step.repeat,
                "due_at": step.due_at.isoformat(),
                "state": step.state,
                "taken_at": step.taken_at.isoformat() if step.taken_at else None,
                "outcome": step.outcome,
            }
            for step in record.steps
        ],
    }
