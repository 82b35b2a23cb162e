"""The hub's relational store: events, alarms and their audit trail, dead letters, edge sequence tracking.

SQLAlchemy 2 with typed declarative models. SQLite (WAL, busy timeout) is the embedded default;
nothing here is SQLite-only except behind a dialect check, so a PostgreSQL URL works the same.
The unique constraint on ``events.event_id`` is the dedup guarantee: inserts use
``INSERT .. ON CONFLICT DO NOTHING RETURNING`` (a Core insert's ``rowcount`` is -1 on SQLAlchemy 2.1).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker
from sqlalchemy.sql.dml import Insert

from compound import wire
from hub.alarm_states import OPEN_STATES, AlarmState

if TYPE_CHECKING:
    from compound.config.loader import Device

__all__ = [
    "OPEN_STATES",
    "Alarm",
    "AlarmAssignee",
    "AlarmHistory",
    "AuditEntry",
    "Base",
    "Database",
    "DeadLetter",
    "EdgeRecord",
    "EventRecord",
    "RevokedToken",
    "SeqGap",
    "Snapshot",
    "UsedLoginToken",
    "default_url",
    "event_row",
    "insert_ignore",
]

log = logging.getLogger(__name__)

ALARM_STATE = Enum(
    AlarmState,
    native_enum=False,
    create_constraint=False,
    length=16,
    values_callable=lambda states: [s.value for s in states],
    validate_strings=True,
)
"""An ``AlarmState`` column: the same VARCHAR(16) holding the value (``'raised'``), read back as the enum."""


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC datetimes")
        value = value.astimezone(UTC)
        # SQLite stores text; keep it naive-UTC so string comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every hub table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class EventRecord(Base):
    """One accepted event message, stored once (unique ``event_id``)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_edge_seq", "edge", "seq"), Index("ix_events_device_kind", "device", "kind"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    compound: Mapped[str] = mapped_column(String(64))
    edge: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(16))
    threshold: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id"), index=True)
    raw: Mapped[dict[str, Any]]


def event_row(msg: wire.Event, received_at: datetime) -> dict[str, Any]:
    """The ``events`` row of a wire event, every column but ``id``: the one place event fields are copied.

    ``alarm_id`` starts empty (ingest links the row once the lifecycle has placed the event); ``raw`` keeps the
    message as sent, so a field the row has no column for is never lost.
    """
    return {
        "event_id": msg.id,
        "seq": msg.seq,
        "compound": msg.compound,
        "edge": msg.edge,
        "device": msg.device,
        "kind": msg.kind.value,
        "state": msg.state.value,
        "severity": msg.severity.value,
        "value": msg.value,
        "unit": msg.unit,
        "threshold": msg.threshold,
        "message": msg.message,
        "occurred_at": msg.occurred_at.astimezone(UTC),
        "received_at": received_at,
        "alarm_id": None,
        "raw": msg.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


class Alarm(Base):
    """An alarm: one hazard or fault at one device, from raise to a person's resolve."""

    __tablename__ = "alarms"
    __table_args__ = (
        # At most one open alarm per device and kind, even with several hub replicas writing.
        Index(
            "uq_alarms_open_device_kind",
            "device",
            "kind",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
        Index("ix_alarms_state", "state"),
        Index("ix_alarms_grid", "grid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[AlarmState] = mapped_column(ALARM_STATE)
    compound: Mapped[str] = mapped_column(String(64))
    edge: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(32))
    floor: Mapped[int | None] = mapped_column(Integer)
    flat: Mapped[str | None] = mapped_column(String(32))
    place: Mapped[str | None] = mapped_column(String(64))
    grid: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    value_unit: Mapped[str | None] = mapped_column(String(16))
    threshold: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(String(500))
    raised_event_id: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    assignees: Mapped[list[AlarmAssignee]] = relationship(
        back_populates="alarm", cascade="all, delete-orphan", order_by="AlarmAssignee.position"
    )
    history: Mapped[list[AlarmHistory]] = relationship(
        back_populates="alarm", cascade="all, delete-orphan", order_by="AlarmHistory.id"
    )

    @classmethod
    def from_event(cls, msg: wire.Event, device: Device, grid: str, now: datetime) -> Alarm:
        """A new ``raised`` alarm for ``msg``: what it reports, where ``device`` is, and ``grid``; no history yet."""
        return cls(
            kind=msg.kind.value,
            severity=msg.severity.value,
            state=AlarmState.RAISED,
            compound=msg.compound,
            edge=msg.edge,
            device=msg.device,
            building=device.building,
            unit=device.unit,
            floor=device.floor,
            flat=device.flat,
            place=device.place,
            grid=grid,
            value=msg.value,
            value_unit=msg.unit,
            threshold=msg.threshold,
            message=msg.message,
            raised_event_id=msg.id,
            raised_at=msg.occurred_at.astimezone(UTC),
            updated_at=now,
        )


class AlarmAssignee(Base):
    """A person an alarm was routed to, with the role they were picked for."""

    __tablename__ = "alarm_assignees"

    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(300), default="")

    alarm: Mapped[Alarm] = relationship(back_populates="assignees")


class AlarmHistory(Base):
    """One step of an alarm's audit trail: who, when, from which state to which, and why."""

    __tablename__ = "alarm_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[AlarmState | None] = mapped_column(ALARM_STATE)
    to_state: Mapped[AlarmState] = mapped_column(ALARM_STATE)
    note: Mapped[str | None] = mapped_column(Text)

    alarm: Mapped[Alarm] = relationship(back_populates="history")


class DeadLetter(Base):
    """A message the hub refused, with a specific reason and a bounded excerpt of the raw bytes."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(Integer)
    excerpt: Mapped[bytes] = mapped_column(LargeBinary)
    preview: Mapped[str] = mapped_column(String(400))


class EdgeRecord(Base):
    """Per-edge counters, sequence tracking and liveness."""

    __tablename__ = "edges"

    edge: Mapped[str] = mapped_column(String(64), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    readings: Mapped[int] = mapped_column(BigInteger, default=0)
    heartbeats: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    seq_anomalies: Mapped[int] = mapped_column(BigInteger, default=0)
    min_seq: Mapped[int | None] = mapped_column(BigInteger)
    max_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_seen_at: Mapped[datetime | None]
    status: Mapped[str | None] = mapped_column(String(16))
    status_at: Mapped[datetime | None]
    version: Mapped[str | None] = mapped_column(String(32))
    heartbeat: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SeqGap(Base):
    """A run of sequence numbers an edge skipped; late arrivals shrink or split it."""

    __tablename__ = "seq_gaps"
    __table_args__ = (Index("ix_seq_gaps_edge", "edge", "from_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edge: Mapped[str] = mapped_column(String(64))
    from_seq: Mapped[int] = mapped_column(BigInteger)
    to_seq: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime]


class Snapshot(Base):
    """A camera event's JPEG evidence, keyed by its event id (it may arrive before or after the event)."""

    __tablename__ = "snapshots"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    edge: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
    size: Mapped[int] = mapped_column(Integer)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEntry(Base):
    """One action by a person on the web or API: who, when, from which client address, what, on what."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(80), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str | None] = mapped_column(String(120))
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(300))


class UsedLoginToken(Base):
    """A single-use login link already exchanged for a session; kept until it would have expired anyway."""

    __tablename__ = "used_login_tokens"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person: Mapped[str] = mapped_column(String(80))
    used_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RevokedToken(Base):
    """A token id (or ``person:<id>``: every token of that person issued before ``revoked_at``) refused from now on."""

    __tablename__ = "revoked_tokens"

    token_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    revoked_at: Mapped[datetime]
    revoked_by: Mapped[str] = mapped_column(String(80))


def default_url(data_dir: str | Path) -> str:
    """The embedded default: ``sqlite:///<data-dir>/hub.db``."""
    return f"sqlite:///{Path(data_dir).resolve() / 'hub.db'}"


def insert_ignore(session: Session, model: type[Base] | Table) -> Insert:
    """``INSERT .. ON CONFLICT DO NOTHING`` for the session's dialect (SQLite or PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).on_conflict_do_nothing()
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model).on_conflict_do_nothing()
    raise ValueError(f"database dialect {name!r} is not supported (use SQLite or PostgreSQL)")


class Database:
    """An engine and session factory for one database URL; creates the schema on ``create()``."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, echo=echo)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """Backend name: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def create(self) -> None:
        """Create missing tables (idempotent)."""
        Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the console read while ingest writes; NORMAL sync is durable across process
        # crashes (SIGKILL) in WAL mode, only a power loss can drop the last commits.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect
