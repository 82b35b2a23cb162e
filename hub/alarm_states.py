"""Alarm lifecycle states, defined once: the database, the API, the state machine and the console use these.

A leaf module (no hub imports) so that ``hub.db`` can use it without importing the ``hub.alarms`` package,
which itself imports ``hub.db``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["ACKNOWLEDGEABLE", "OPEN_STATES", "TAKEN_ON", "AlarmState", "PseudoState", "StateFilter"]


class AlarmState(StrEnum):
    """Where an alarm stands with the people handling it; stored and sent as its value.

    A device clear is not a state: it sets ``cleared_at`` and the alarm stays open until a person resolves it.
    """

    RAISED = "raised"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    ON_MY_WAY = "on_my_way"
    """The person who acknowledged is going there."""
    ON_SITE = "on_site"
    """Someone is at the place (for fire and gas, due within the policy's time or escalation resumes)."""
    RESOLVED = "resolved"


OPEN_STATES: Final = (
    AlarmState.RAISED,
    AlarmState.NOTIFIED,
    AlarmState.ACKNOWLEDGED,
    AlarmState.ON_MY_WAY,
    AlarmState.ON_SITE,
)
"""States that still need a person; ``resolved`` is the only closed state. A tuple: SQL ``IN`` keeps its order."""

ACKNOWLEDGEABLE: Final = frozenset({AlarmState.RAISED, AlarmState.NOTIFIED})
"""States a person may acknowledge from: nobody has taken the alarm on yet."""

TAKEN_ON: Final = frozenset({AlarmState.ACKNOWLEDGED, AlarmState.ON_MY_WAY, AlarmState.ON_SITE})
"""Someone has the alarm: escalation stops (but for the on-site clock of fire and gas)."""


class PseudoState(StrEnum):
    """Filters the alarm list takes besides an ``AlarmState``; never stored."""

    OPEN = "open"
    """Every alarm not yet resolved (``OPEN_STATES``)."""
    CLEARED = "cleared"
    """Open alarms whose device has reported the condition gone (``cleared_at`` set)."""


StateFilter = AlarmState | PseudoState
"""What ``GET /api/v1/alarms?state=`` accepts."""
