"""Validation as a pure function: the same message and receipt time always give the same verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from compound import wire
from compound.config import Compound
from hub.ingest import DEAD_LETTER_REASONS, IngestSettings, Parsed, Rejected, describe_span, validate
from hub.ingest.validate import clock_note
from tests.hub.helpers import NIGHT, event_topic, make_event

SMOKE = "b2-u1-1502-smoke"


def check(compound: Compound, at: datetime, settings: IngestSettings | None = None) -> Parsed | Rejected:
    event = make_event(compound, SMOKE, seq=1, at=at)
    got = validate(event_topic(compound, event), wire.dump(event), NIGHT, compound, settings or IngestSettings())
    assert isinstance(got, Parsed | Rejected)
    return got


@pytest.mark.parametrize("ahead", [timedelta(0), timedelta(seconds=30), timedelta(minutes=4, seconds=59)])
def test_device_clock_a_little_ahead_is_accepted(compound: Compound, ahead: timedelta) -> None:
    """Test that a device clock up to the default 5 minutes ahead of the hub (drift, a late NTP sync) passes."""
    assert isinstance(check(compound, NIGHT + ahead), Parsed)


def test_a_clock_far_ahead_is_restamped_at_receipt_not_dead_lettered(compound: Compound) -> None:
    """Test that an edge clock beyond the default 5 minutes ahead costs it its timestamps, not its alarms: the
    event is accepted at the hub's receipt time and the edge's own stamp is kept beside it, with a note that says
    how far off the clock is."""
    got = check(compound, NIGHT + timedelta(minutes=10))
    assert isinstance(got, Parsed)
    assert isinstance(got.message, wire.Event) and got.message.occurred_at == NIGHT
    assert got.sent_at == NIGHT + timedelta(minutes=10)
    note = clock_note(got, NIGHT, IngestSettings())
    assert note is not None and "10.0 min ahead of the hub's (allowed 5.0 min)" in note


def test_simulated_runs_widen_the_future_bound_explicitly(compound: Compound) -> None:
    """Test that a wide max_skew (what ``compound up`` passes) accepts a timeline a month ahead."""
    wide = IngestSettings(max_skew=timedelta(days=400))
    assert isinstance(check(compound, NIGHT + timedelta(days=30), wide), Parsed)


def test_old_timestamps_pass_until_max_age(compound: Compound) -> None:
    """Test that old is normal (a replayed outbox, a journal resend) and kept as stamped, but a device with no clock
    (1970) is stored at the hub's receipt time."""
    assert isinstance(check(compound, NIGHT - timedelta(days=30)), Parsed)
    assert check(compound, NIGHT - timedelta(days=30)).sent_at is None  # type: ignore[union-attr]
    got = check(compound, datetime(1970, 1, 1, tzinfo=UTC))
    assert isinstance(got, Parsed) and got.message.occurred_at == NIGHT  # type: ignore[union-attr]
    assert got.sent_at == datetime(1970, 1, 1, tzinfo=UTC)
    note = clock_note(got, NIGHT, IngestSettings())
    assert note is not None and "days behind the hub's (allowed 400.0 days)" in note


def test_verdict_depends_only_on_its_inputs(compound: Compound) -> None:
    """Test that validation reads no clock: the same input gives the same verdict, and every reason is known."""
    event = make_event(compound, SMOKE, seq=1, at=NIGHT)
    args = (event_topic(compound, event), wire.dump(event), NIGHT + timedelta(days=1), compound, IngestSettings())
    assert validate(*args) == validate(*args)
    bad = validate("compound/v1/other/b2/event/x", b"{}", NIGHT, compound, IngestSettings())
    assert isinstance(bad, Rejected) and bad.reason in DEAD_LETTER_REASONS
    assert validate(wire.topic(compound.id, "b2", "cmd", "resend"), b"{}", NIGHT, compound, IngestSettings()) is None


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(seconds=42), "42 s"),
        (timedelta(minutes=5), "5.0 min"),
        (timedelta(hours=3, minutes=30), "3.5 h"),
        (timedelta(days=30), "30.0 days"),
    ],
)
def test_spans_read_in_their_own_unit(span: timedelta, text: str) -> None:
    """Test that a skew is described in seconds, minutes, hours or days as fits."""
    assert describe_span(span) == text
