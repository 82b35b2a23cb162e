"""The hub's relational store: events, alarms and their audit trail, dead letters, edge sequence tracking.

SQLAlchemy 2 with typed declarative models. SQLite (WAL, busy timeout) is the embedded default;
nothing here is SQLite-only except behind a dialect check, so a PostgreSQL URL works the same.
The unique constraint on ``events.event_id`` is the dedup guarantee: inserts use
``INSERT .. ON CONFLICT DO NOTHING RETURNING`` (a Core insert's ``rowcount`` is -1 on SQLAlchemy 2.1).
"""

from hub.alarm_states import OPEN_STATES
from hub.db.accounts import AuditEntry, RevokedToken, UsedLoginToken
from hub.db.base import Base, UTCDateTime
from hub.db.engine import Database, default_url, insert_ignore
from hub.db.learning import AlarmMark, ShadowRecord
from hub.db.notify import (
    AlarmPhoto,
    DeliveryAttempt,
    EscalationStep,
    Incident,
    JobState,
    NotificationJob,
    Silence,
    StepState,
)
from hub.db.push import PushSubscription
from hub.db.tables import (
    Alarm,
    AlarmAssignee,
    AlarmHistory,
    DeadLetter,
    DeviceSeen,
    EdgeRecord,
    EventRecord,
    SeqGap,
    Snapshot,
    event_row,
)

__all__ = [
    "OPEN_STATES",
    "Alarm",
    "AlarmAssignee",
    "AlarmHistory",
    "AlarmMark",
    "AlarmPhoto",
    "AuditEntry",
    "Base",
    "Database",
    "DeadLetter",
    "DeliveryAttempt",
    "DeviceSeen",
    "EdgeRecord",
    "EscalationStep",
    "EventRecord",
    "Incident",
    "JobState",
    "NotificationJob",
    "PushSubscription",
    "RevokedToken",
    "SeqGap",
    "ShadowRecord",
    "Silence",
    "Snapshot",
    "StepState",
    "UTCDateTime",
    "UsedLoginToken",
    "default_url",
    "event_row",
    "insert_ignore",
]
