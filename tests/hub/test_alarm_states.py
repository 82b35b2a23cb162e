"""``AlarmState`` is the one definition of alarm states: the table, the API shapes and the state machine use it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Enum, select, text

from compound import wire
from compound.config import Compound
from hub.alarm_states import ACKNOWLEDGEABLE, OPEN_STATES, AlarmState, PseudoState
from hub.alarms import lifecycle
from hub.alarms.schemas import AlarmDetail, AlarmPublic, HistoryEntry
from hub.alarms.service import AlarmService
from hub.db import Alarm, AlarmHistory, Database
from hub.ingest import Inbound, MessagePipeline
from tests.hub.helpers import event_topic, make_event

VALUES = ["raised", "notified", "acknowledged", "on_my_way", "on_site", "resolved"]


def test_the_states_are_the_four_of_the_lifecycle() -> None:
    """Test that the enum holds the four lifecycle states, three of them open, and two pseudo-state filters."""
    assert [s.value for s in AlarmState] == VALUES
    assert set(OPEN_STATES) == set(AlarmState) - {AlarmState.RESOLVED}
    assert {AlarmState.RAISED, AlarmState.NOTIFIED} == ACKNOWLEDGEABLE
    assert set(OPEN_STATES) == lifecycle.RESOLVABLE
    assert [s.value for s in PseudoState] == ["open", "cleared"]
    assert not set(PseudoState) & set(AlarmState), "a filter name must never shadow a state"


def test_api_schemas_take_their_states_from_the_enum() -> None:
    """Test that every API shape with a state lists exactly the enum's values in its JSON schema."""
    for model in (AlarmPublic, AlarmDetail, HistoryEntry):
        schema = model.model_json_schema()
        assert schema["$defs"]["AlarmState"]["enum"] == VALUES, model.__name__


def test_state_columns_are_the_enum_stored_as_its_value() -> None:
    """Test that the alarm and history state columns are the enum, as the same VARCHAR(16) of values as before."""
    for column in (Alarm.__table__.c.state, AlarmHistory.__table__.c.from_state, AlarmHistory.__table__.c.to_state):
        assert isinstance(column.type, Enum) and column.type.enum_class is AlarmState
        assert column.type.enums == VALUES, "values, not member names (RAISED), are stored"
        assert column.type.length == 16 and not column.type.native_enum and not column.type.create_constraint


def test_stored_states_are_plain_strings(hub_db: Database, compound: Compound, alarm_service: AlarmService) -> None:
    """Test that the database holds 'acknowledged' (not 'ACKNOWLEDGED') and reads it back as the enum."""
    msg = make_event(compound, "b2-u1-1502-smoke", seq=1)
    MessagePipeline(hub_db, compound).process([Inbound(event_topic(compound, msg), wire.dump(msg), datetime.now(UTC))])
    [alarm] = alarm_service.list_alarms()
    alarm_service.acknowledge(alarm.id, "p-han-mei", "on my way")
    with hub_db.session() as session:
        raw = session.execute(text("SELECT state FROM alarms")).scalars().all()
        steps = session.execute(text("SELECT from_state, to_state FROM alarm_history ORDER BY id")).all()
        loaded = session.scalars(select(Alarm)).one()
    assert raw == ["acknowledged"]
    assert [tuple(s) for s in steps] == [(None, "raised"), ("raised", "raised"), ("raised", "acknowledged")]
    assert loaded.state is AlarmState.ACKNOWLEDGED
    assert alarm_service.list_alarms(state=PseudoState.OPEN) == alarm_service.list_alarms(state="acknowledged")
