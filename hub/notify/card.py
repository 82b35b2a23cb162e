"""The alert card: everything a person needs to act on one alarm, built once and rendered by every channel.

A card has two faces. ``personal`` carries the care profile of the household (residents' needs, an emergency
contact) and is only ever built for a person responsible for that flat on a personal channel. A group robot
(WeCom, DingTalk, Feishu) posts into a shared chat, so it gets the card with ``care`` empty and a one-tap link
to the alarm instead: ``AlertCard.for_group()`` is the only way a group channel sees a card.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

__all__ = ["ActionLinks", "AlertCard", "Place"]


@dataclass(frozen=True, slots=True)
class Place:
    """Where: labels as people say them ("2号楼", "1单元", "15层", "1502"), each optional but the building."""

    building: str
    unit: str | None = None
    floor: str | None = None
    flat: str | None = None
    spot: str | None = None
    """A named place that is not a flat: "地下车库 B1", "消防通道 2", "电梯 2-1"."""

    def label(self) -> str:
        """One line: "2号楼 1单元 15层 1502"."""
        return " ".join(part for part in (self.building, self.unit, self.floor, self.flat, self.spot) if part)


@dataclass(frozen=True, slots=True)
class ActionLinks:
    """Signed, single-use, expiring links for one person and one alarm (``None`` fields: not offered)."""

    acknowledge: str
    on_my_way: str | None = None
    open: str | None = None
    """Opens the alarm on the worker page, already signed in."""


@dataclass(frozen=True, slots=True)
class AlertCard:
    """One alarm as a message. Text fields are already in the card's language (``lang``)."""

    alarm_id: int
    kind: str
    kind_label: str
    """The kind as people read it: "烟雾报警" / "Smoke alarm"."""
    severity: str
    severity_label: str
    title: str
    """One line for a push title or a message heading: "【火警】2号楼 1单元 1502 烟雾报警"."""
    place: Place
    grid: str
    raised_at: datetime
    raised_at_local: str
    """``raised_at`` in the compound's time zone, formatted for people: "11-29 02:14:07"."""
    measured: str
    """What was measured: "烟雾浓度 0.31 dB/m（阈值 0.15）" or the camera's verdict."""
    alarm_url: str
    """The alarm on the console (sign-in required): safe for a group chat."""
    lang: str = "zh"
    snapshot_url: str | None = None
    """Camera evidence (sign-in required)."""
    plan: tuple[str, ...] = ()
    """The response plan (预案) for this kind, in order."""
    resources: tuple[str, ...] = ()
    """Nearest extinguishers, hydrants, exits."""
    care: tuple[str, ...] = ()
    """The household's care profile (personal data): empty on every group card."""
    level: int = 0
    """Escalation level that sent this (0: the people the alarm was routed to)."""
    level_label: str = ""
    escalation_note: str = ""
    """Why this level is being told: "60 秒内无人确认：李强（微网格员）"."""
    incident_id: int | None = None
    incident_alarms: int = 1
    """How many alarms the incident holds (2 smoke detectors in one unit: 2)."""
    drill: bool = False
    """A drill (演练): every channel marks it so; never counted in response metrics."""
    tags: tuple[str, ...] = field(default=())

    def for_group(self) -> AlertCard:
        """This card without personal data, for a shared chat."""
        return replace(self, care=())
