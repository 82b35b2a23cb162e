"""A notification test bench: pipeline, service and dispatcher over one database on one manual clock, with
channels that record what they are given (test plugins of the channel interface; the real channels are tested
against local platform servers in test_channels.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar, Literal

from sqlalchemy import select

from compound import wire
from compound.clock import ManualClock
from compound.config import Compound
from hub.alarms.service import AlarmService
from hub.db import Database, NotificationJob
from hub.ingest import MessagePipeline
from hub.notify.cards import CardMaker
from hub.notify.channels.base import ChannelConfig, DeliveryResult, Message
from hub.notify.dispatcher import Dispatcher, TickReport
from hub.notify.escalation import ChannelInfo
from tests.hub.helpers import NIGHT, feed, make_event

__all__ = ["Bench", "RecordingChannel", "RecordingConfig"]


class RecordingConfig(ChannelConfig):
    type: Literal["recording"] = "recording"
    personal_address: bool = False
    needs_address: ClassVar[bool] = False


class GroupRecordingConfig(RecordingConfig):
    group: ClassVar[bool] = True


@dataclass
class RecordingChannel:
    """Keeps every message; answers with ``answer(message)`` (default: delivered)."""

    config: ChannelConfig
    answer: Callable[[Message], DeliveryResult] = field(default=lambda m: DeliveryResult(ok=True, code="0"))
    sent: list[Message] = field(default_factory=list)

    def send(self, message: Message) -> DeliveryResult:
        self.sent.append(message)
        return self.answer(message)


class Bench:
    """Pipeline + service + dispatcher sharing a database and a manual clock."""

    def __init__(self, db: Database, compound: Compound, *, groups: tuple[str, ...] = ()) -> None:
        self.db = db
        self.compound = compound
        self.clock = ManualClock(NIGHT + timedelta(seconds=1))
        self.channels: dict[str, RecordingChannel] = {
            "inbox": RecordingChannel(RecordingConfig(id="inbox")),
            "webpush": RecordingChannel(RecordingConfig(id="webpush")),
        }
        for group in groups:
            self.channels[group] = RecordingChannel(GroupRecordingConfig(id=group))
        infos = {cid: ChannelInfo(cid, group=ch.config.group, needs_address=False) for cid, ch in self.channels.items()}
        self.pipeline = MessagePipeline(db, compound, clock=self.clock, channels=infos)
        self.service = AlarmService(db, compound, clock=self.clock, channels=infos)
        self.dispatcher = Dispatcher(
            db,
            compound,
            self.channels,
            self.service.escalation,
            CardMaker(compound, "https://hub.example"),
            clock=self.clock,
            hub_id="test-hub",
        )
        self.seq = 0

    def raise_event(self, device: str, kind: str = "smoke", severity: str = "critical") -> None:
        self.seq += 1
        msg = make_event(self.compound, device, seq=self.seq, kind=kind, severity=severity, at=self.clock.now())
        feed(self.pipeline, self.compound, msg, at=self.clock.now())

    def clear_event(self, device: str, kind: str = "smoke") -> None:
        self.seq += 1
        msg = make_event(
            self.compound, device, seq=self.seq, kind=kind, state=wire.EventState.CLEARED, at=self.clock.now()
        )
        feed(self.pipeline, self.compound, msg, at=self.clock.now())

    def tick(self, advance_s: float = 0.0) -> TickReport:
        if advance_s:
            self.clock.advance(advance_s)
        return self.dispatcher.tick()

    def jobs(self, alarm_id: int | None = None) -> list[NotificationJob]:
        with self.db.session() as session:
            stmt = select(NotificationJob).order_by(NotificationJob.id)
            if alarm_id is not None:
                stmt = stmt.where(NotificationJob.alarm_id == alarm_id)
            jobs = list(session.scalars(stmt))
            session.expunge_all()
        return jobs

    def told(self, alarm_id: int, level: int, repeat: int = 0) -> set[tuple[str | None, str]]:
        """(person, channel) of the jobs for a level and repeat."""
        return {(j.person_id, j.channel) for j in self.jobs(alarm_id) if j.level == level and j.repeat == repeat}
