"""The alarm lifecycle through the service: acknowledge, resolve with a note, invalid steps, filters, history."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from compound import wire
from compound.config import Compound, load_config
from hub.alarms.access import visible_grids
from hub.alarms.service import AlarmService
from hub.db import Database, default_url
from hub.errors import AlarmNotFound, InvalidTransition, NoteRequired
from hub.ingest import Inbound, MessagePipeline
from tests.conftest import ROOT
from tests.hub.helpers import NIGHT, event_topic, make_event

SMOKE = "b2-u1-1502-smoke"


def feed(pipeline: MessagePipeline, compound: Compound, *events: wire.Event) -> None:
    now = datetime.now(UTC)
    pipeline.process([Inbound(event_topic(compound, e), wire.dump(e), now) for e in events])


@pytest.fixture
def pipeline(hub_db: Database, compound: Compound, alarm_service: AlarmService) -> MessagePipeline:
    return MessagePipeline(hub_db, compound, changes=alarm_service.changes)


def test_acknowledge_then_resolve_with_note(
    pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService
) -> None:
    """Test the happy path: raised (routed) → acknowledged → resolved, each step in the history (``notified`` is
    set only by a delivery: tests/hub/notify)."""
    feed(pipeline, compound, make_event(compound, SMOKE, seq=1))
    [alarm] = alarm_service.list_alarms()
    acked = alarm_service.acknowledge(alarm.id, "p-li-qiang", "on my way")
    assert acked.state == "acknowledged" and acked.acknowledged_at is not None
    done = alarm_service.resolve(alarm.id, "p-li-qiang", "  burnt toast, ventilated  ")
    assert done.state == "resolved" and done.resolved_at is not None
    assert [(h.actor, h.from_state, h.to_state, h.note) for h in done.history] == [
        ("edge:b2", None, "raised", done.history[0].note),
        ("system", "raised", "raised", done.history[1].note),
        ("p-li-qiang", "raised", "acknowledged", "on my way"),
        ("p-li-qiang", "acknowledged", "resolved", "burnt toast, ventilated"),
    ]
    assert done.routing["rule"] == "fire_gas"
    assert [a.person for a in done.assigned] == ["p-li-qiang", "p-song-kai"]


def test_update_from_before_a_clear_arriving_after_it_does_not_reopen(
    pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService
) -> None:
    """Test that an update older than the device's clear, arriving after it (a resend the restarted hub asked for
    while the clear came live), leaves the alarm cleared with the clear's value; a newer one reopens it."""

    def later(seconds: int) -> datetime:
        return NIGHT + timedelta(seconds=seconds)

    feed(pipeline, compound, make_event(compound, SMOKE, seq=1, at=NIGHT))
    feed(pipeline, compound, make_event(compound, SMOKE, seq=3, state="cleared", value=0.06, at=later(60)))
    feed(pipeline, compound, make_event(compound, SMOKE, seq=2, state="updated", value=0.4, at=later(30)))
    [alarm] = alarm_service.list_alarms()
    assert alarm.cleared_at is not None and alarm.value == 0.06
    detail = alarm_service.get_alarm(alarm.id)
    assert detail is not None and "late, from before the clear" in (detail.history[-1].note or "")
    feed(pipeline, compound, make_event(compound, SMOKE, seq=4, state="updated", value=0.5, at=later(90)))
    [alarm] = alarm_service.list_alarms()
    assert alarm.cleared_at is None and alarm.value == 0.5


def test_invalid_steps_raise_specific_errors(
    pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService
) -> None:
    """Test that a missing alarm, a blank note, a second acknowledge and any step after resolve are refused
    with their specific errors and change nothing."""
    with pytest.raises(AlarmNotFound):
        alarm_service.acknowledge(999, "p-han-mei")
    feed(pipeline, compound, make_event(compound, SMOKE, seq=1))
    [alarm] = alarm_service.list_alarms()
    for note in ("", "   ", None):
        with pytest.raises(NoteRequired):
            alarm_service.resolve(alarm.id, "p-han-mei", note)  # type: ignore[arg-type]
    alarm_service.acknowledge(alarm.id, "p-han-mei")
    with pytest.raises(InvalidTransition) as exc:
        alarm_service.acknowledge(alarm.id, "p-han-mei")
    assert exc.value.from_state == "acknowledged" and exc.value.action == "acknowledge"
    alarm_service.resolve(alarm.id, "p-han-mei", "done")
    with pytest.raises(InvalidTransition):
        alarm_service.acknowledge(alarm.id, "p-han-mei")
    with pytest.raises(InvalidTransition):
        alarm_service.resolve(alarm.id, "p-han-mei", "again")
    detail = alarm_service.get_alarm(alarm.id)
    assert detail is not None and len(detail.history) == 4


def test_grid_restriction_hides_other_grids(
    pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService
) -> None:
    """Test that with a grid restriction an alarm elsewhere is neither listed, read nor acknowledgeable."""
    feed(pipeline, compound, make_event(compound, SMOKE, seq=1), make_event(compound, "b3-u1-101-smoke", seq=2))
    worker = visible_grids(compound.people["p-li-qiang"], compound)
    assert [a.grid for a in alarm_service.list_alarms(grids=worker)] == ["mg-b2-u1"]
    other = alarm_service.list_alarms(grid="g-south")
    assert [a.grid for a in other] == ["mg-b3-u1"]
    assert alarm_service.get_alarm(other[0].id, grids=worker) is None
    with pytest.raises(AlarmNotFound):
        alarm_service.acknowledge(other[0].id, "p-li-qiang", grids=worker)
    assert alarm_service.list_alarms(grid="g-north", severity="critical", kind="smoke", state="raised")
    assert alarm_service.list_alarms(grid="g-north", severity="warning") == []
    assert len(alarm_service.list_alarms(grid="g-total")) == 2
    assert len(alarm_service.list_alarms(state="open", limit=1)) == 1


def test_service_publishes_changes(pipeline: MessagePipeline, compound: Compound, alarm_service: AlarmService) -> None:
    """Test that acknowledge and resolve publish a change each to subscribers on another thread's loop."""
    feed(pipeline, compound, make_event(compound, SMOKE, seq=1))
    [alarm] = alarm_service.list_alarms()

    async def main() -> list[str]:
        queue = alarm_service.changes.subscribe()
        await asyncio.to_thread(alarm_service.acknowledge, alarm.id, "p-wang-li")
        await asyncio.to_thread(alarm_service.resolve, alarm.id, "p-wang-li", "fine")
        return [(await asyncio.wait_for(queue.get(), 5)).change for _ in range(2)]

    assert asyncio.run(main()) == ["acknowledged", "resolved"]


class AlarmLifecycle(RuleBasedStateMachine):
    """Random interleavings of device events and people's actions keep the lifecycle's invariants."""

    compound = load_config(ROOT / "configs")
    devices = ("b2-u1-1502-smoke", "b1-u1-101-smoke")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.db = Database(default_url(Path(self.tmp.name)))
        self.db.create()
        self.service = AlarmService(self.db, self.compound)
        self.pipeline = MessagePipeline(self.db, self.compound)
        self.seq = itertools.count()
        self.at = NIGHT

    def teardown(self) -> None:
        self.db.dispose()
        self.tmp.cleanup()

    @rule(device=st.sampled_from(devices), state=st.sampled_from(list(wire.EventState)))
    def device_event(self, device: str, state: wire.EventState) -> None:
        self.at += timedelta(seconds=5)
        feed(
            self.pipeline, self.compound, make_event(self.compound, device, seq=next(self.seq), state=state, at=self.at)
        )

    @rule(index=st.integers(0, 5), person=st.sampled_from(["p-han-mei", "p-li-qiang"]))
    def acknowledge(self, index: int, person: str) -> None:
        alarms = self.service.list_alarms()
        if not alarms:
            return
        alarm = alarms[index % len(alarms)]
        try:
            self.service.acknowledge(alarm.id, person)
        except InvalidTransition:
            assert alarm.state in ("acknowledged", "resolved")
        else:
            assert alarm.state in ("raised", "notified")

    @rule(index=st.integers(0, 5), note=st.sampled_from(["", "  ", "checked"]))
    def resolve(self, index: int, note: str) -> None:
        alarms = self.service.list_alarms()
        if not alarms:
            return
        alarm = alarms[index % len(alarms)]
        try:
            self.service.resolve(alarm.id, "p-han-mei", note)
        except InvalidTransition:
            assert alarm.state == "resolved"
        except NoteRequired:
            assert alarm.state != "resolved" and not note.strip()
        else:
            assert note.strip() and alarm.state != "resolved"

    @invariant()
    def lifecycle_holds(self) -> None:
        alarms = self.service.list_alarms(limit=1000)
        open_keys = [(a.device, a.kind) for a in alarms if a.state != "resolved"]
        assert len(open_keys) == len(set(open_keys)), "two open alarms for one device and kind"
        for public in alarms:
            detail = self.service.get_alarm(public.id)
            assert detail is not None
            states = [h.to_state for h in detail.history]
            assert detail.history[0].from_state is None and detail.history[0].to_state == "raised"
            for before, after in itertools.pairwise(detail.history):
                assert after.from_state == before.to_state, "history is not a chain"
            assert states[-1] == detail.state
            assert (detail.state == "resolved") == (detail.resolved_at is not None)
            if detail.state == "resolved":
                assert detail.history[-1].note and detail.history[-1].actor == "p-han-mei"
            if detail.acknowledged_at is not None:
                assert "acknowledged" in states
            last_device_event = detail.events[-1]
            assert (detail.cleared_at is not None) == (last_device_event.state == "cleared")


TestAlarmLifecycle = AlarmLifecycle.TestCase
TestAlarmLifecycle.settings = settings(
    max_examples=25, stateful_step_count=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
