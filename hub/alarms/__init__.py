"""Alarms: the lifecycle state machine, the service the web layer calls, live changes and access rules."""

from hub.alarms.access import visible_grids
from hub.alarms.changes import AlarmChanges
from hub.alarms.schemas import (
    AlarmChange,
    AlarmDetail,
    AlarmPublic,
    DeadLetterPublic,
    EventPublic,
    HistoryEntry,
    Location,
)
from hub.alarms.service import AlarmService

__all__ = [
    "AlarmChange",
    "AlarmChanges",
    "AlarmDetail",
    "AlarmPublic",
    "AlarmService",
    "DeadLetterPublic",
    "EventPublic",
    "HistoryEntry",
    "Location",
    "visible_grids",
]
