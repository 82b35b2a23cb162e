"""Keyset paging of the alarm list in the console's order: open before resolved, critical before warning before
info, newest (highest id) first within each.

The order is six *segments* (open × critical, open × warning, … resolved × info), each walked by descending id,
so every page is a few ``WHERE segment AND id < :after ORDER BY id DESC LIMIT n`` queries on the primary key,
whatever the page number: the 2 000th page costs what the first does (no ``OFFSET``), and an alarm arriving
while someone scrolls neither shifts nor repeats the rows already shown. A cursor is ``"<segment>.<id>"``: the
segment and id of the last row handed out; ``newest`` order is one segment (every alarm by id).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from compound.wire import Severity
from hub.alarm_states import OPEN_STATES, AlarmState

__all__ = ["ATTENTION_SEGMENTS", "Cursor", "CursorError", "ListOrder", "Segment", "segment_of", "segments_for"]


class ListOrder(StrEnum):
    """The orders ``GET /api/v1/alarms`` pages in."""

    NEWEST = "newest"
    """Every alarm by id, newest first."""
    ATTENTION = "attention"
    """The console's: open first, then by severity, newest first within each (``ATTENTION_SEGMENTS``)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One run of the order: alarms in ``states`` (all when ``None``) with ``severity`` (any when ``None``)."""

    states: tuple[AlarmState, ...] | None
    severity: Severity | None


_SEVERITIES: Final = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
ATTENTION_SEGMENTS: Final = tuple(Segment(OPEN_STATES, s) for s in _SEVERITIES) + tuple(
    Segment((AlarmState.RESOLVED,), s) for s in _SEVERITIES
)
_NEWEST: Final = (Segment(None, None),)


def segments_for(order: ListOrder) -> tuple[Segment, ...]:
    """The segments an order walks, in order."""
    return ATTENTION_SEGMENTS if order is ListOrder.ATTENTION else _NEWEST


def segment_of(state: str, severity: str, order: ListOrder) -> int:
    """The index of the segment an alarm in ``state`` with ``severity`` falls in (``len`` of them: none)."""
    for index, segment in enumerate(segments_for(order)):
        if (segment.states is None or state in segment.states) and (
            segment.severity is None or segment.severity.value == severity
        ):
            return index
    return len(segments_for(order))


class CursorError(ValueError):
    """A cursor that no page handed out: malformed, or naming a segment the order does not have."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended: its last row's segment (index into the order's segments) and id."""

    segment: int
    id: int

    @classmethod
    def parse(cls, raw: str, order: ListOrder) -> Cursor:
        """``"3.51234"`` → ``Cursor(3, 51234)``; ``CursorError`` saying what is wrong otherwise."""
        head, dot, tail = raw.partition(".")
        if not dot or not head.isdigit() or not tail.isdigit() or len(head) > 2 or len(tail) > 19:
            raise CursorError(f"cursor {raw[:40]!r} is not '<segment>.<id>' as a previous page's X-Next-Cursor")
        segment, alarm_id = int(head), int(tail)
        count = len(segments_for(order))
        if segment >= count:
            raise CursorError(f"cursor segment {segment} is out of range for order {order.value!r} ({count} segments)")
        if not 1 <= alarm_id <= 2**63 - 1:
            raise CursorError(f"cursor id {alarm_id} is out of range")
        return cls(segment, alarm_id)

    def __str__(self) -> str:
        return f"{self.segment}.{self.id}"
