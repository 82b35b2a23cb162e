"""Column types and the declarative base every hub table shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Enum,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase

from hub.alarm_states import AlarmState

if TYPE_CHECKING:
    pass


__all__ = ["ALARM_STATE", "Base", "UTCDateTime"]


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
