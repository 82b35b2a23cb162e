"""The hub's run summary: what it stored since a mark, as typed figures (what `compound up --json` asks for)."""

from __future__ import annotations

from datetime import UTC, datetime

from compound import wire
from compound.config import Compound
from hub.db import Database
from hub.ingest import Inbound, MessagePipeline
from hub.report import GapFigures, events_received, mark, run_summary
from tests.hub.helpers import event_topic, make_event

SMOKE = "b2-u1-1502-smoke"
GAS = "b2-u1-1502-gas"


def feed(pipeline: MessagePipeline, compound: Compound, *events: wire.Event) -> None:
    now = datetime.now(UTC)
    pipeline.process([Inbound(event_topic(compound, e), wire.dump(e), now) for e in events])


def test_summary_counts_only_what_came_after_the_mark(hub_db: Database, compound: Compound) -> None:
    """Test that a summary since a mark holds the alarms raised or touched after it, the events, duplicates, dead
    letters and seq gaps after it, and each edge's highest seq, but nothing stored before the mark."""
    pipeline = MessagePipeline(hub_db, compound)
    old_raise = make_event(compound, GAS, seq=1, kind="gas", value=30.0)
    before = make_event(compound, SMOKE, seq=2)
    feed(pipeline, compound, old_raise, before, before)  # one duplicate before the mark
    since = mark(hub_db)
    assert since.duplicates == {"b2": 1}
    cleared = make_event(compound, GAS, seq=3, kind="gas", state="cleared", value=1.0)
    fresh = make_event(compound, "b1-u1-101-smoke", seq=1)
    late = make_event(compound, SMOKE, seq=6, state="cleared", value=0.01)
    feed(pipeline, compound, cleared, fresh, late, late)
    pipeline.process([Inbound("compound/v1/sunrise-garden/b2/event/" + SMOKE, b"{not json", datetime.now(UTC))])

    summary = run_summary(hub_db, since)
    assert [(a.device, a.kind) for a in summary.alarms] == [(GAS, "gas"), (SMOKE, "smoke"), (fresh.device, "smoke")]
    assert summary.events_received == 3  # the second `late` is a duplicate
    assert summary.duplicates == 1 and summary.edges["b2"].duplicates == 1 and summary.edges["b1"].duplicates == 0
    assert summary.dead_letters == {"not_json": 1}
    assert summary.seq_gaps == [GapFigures("b2", 4, 5)] and summary.seq_gaps[0].missing == 2
    assert (summary.edges["b2"].max_seq, summary.edges["b1"].max_seq) == (6, 1)
    assert events_received(hub_db, "b2", 2, 6) == 2
    assert events_received(hub_db, "b2", 0, 2) == 2


def test_summary_of_an_empty_store_is_empty(hub_db: Database) -> None:
    """Test that a store with nothing in it marks zero and summarizes to nothing."""
    since = mark(hub_db)
    summary = run_summary(hub_db, since)
    assert (summary.alarms, summary.events_received, summary.dead_letters, summary.seq_gaps) == ([], 0, {}, [])
    assert summary.edges == {} and summary.duplicates == 0
