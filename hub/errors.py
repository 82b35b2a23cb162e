"""Errors raised by the hub's service layer; the web layer maps them to HTTP statuses."""

from __future__ import annotations

__all__ = ["AlarmNotFound", "HubError", "InvalidTransition", "NoteRequired"]


class HubError(Exception):
    """Base of every hub service error."""


class AlarmNotFound(HubError):
    """No alarm with this id (or not visible to the caller)."""

    def __init__(self, alarm_id: int) -> None:
        super().__init__(f"alarm {alarm_id} not found")
        self.alarm_id = alarm_id


class InvalidTransition(HubError):
    """The requested lifecycle step is not allowed from the alarm's current state."""

    def __init__(self, alarm_id: int, from_state: str, action: str) -> None:
        super().__init__(f"alarm {alarm_id} is {from_state}: cannot {action} it")
        self.alarm_id = alarm_id
        self.from_state = from_state
        self.action = action


class NoteRequired(HubError):
    """Resolving an alarm needs a non-empty note saying what was found and done."""

    def __init__(self, alarm_id: int) -> None:
        super().__init__(f"alarm {alarm_id}: a note is required to resolve it")
        self.alarm_id = alarm_id
