"""Time-series settings: where the long-term server is (if any) and the bounds of every buffer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["TOKEN_ENV", "TimeseriesSettings"]

TOKEN_ENV: Final = "COMPOUND_INFLUX_TOKEN"
"""The only place the InfluxDB token is read from: never from a config file or the command line."""

_ENV: Final = {
    "influx_url": "COMPOUND_INFLUX_URL",
    "influx_org": "COMPOUND_INFLUX_ORG",
    "influx_bucket": "COMPOUND_INFLUX_BUCKET",
}


class TimeseriesSettings(BaseModel):
    """Strict settings; ``influx_url`` None means the embedded store alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    influx_url: str | None = Field(
        default=None,
        description="InfluxDB v2 write API base URL (InfluxDB 2/3, VictoriaMetrics), e.g. http://tsdb:8086.",
    )
    influx_org: str = Field(default="compound", min_length=1, max_length=64, description="InfluxDB organisation.")
    influx_bucket: str = Field(default="compound", min_length=1, max_length=64, description="InfluxDB bucket.")
    batch_size: int = Field(default=1000, ge=1, le=50_000, description="Points per write request.")
    flush_interval_s: float = Field(default=1.0, gt=0, le=60, description="Longest a point waits for a fuller batch.")
    request_timeout_s: float = Field(default=10.0, gt=0, le=300, description="HTTP timeout of one write.")
    retry_min_s: float = Field(default=0.5, gt=0, le=60, description="First back-off after a failed write.")
    retry_max_s: float = Field(default=30.0, gt=0, le=3600, description="Longest back-off between retries.")
    spool_max_points: int = Field(default=2_000_000, ge=1, description="On-disk spool bound, in points.")
    spool_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024, description="On-disk spool bound, in bytes.")
    max_pending_points: int = Field(
        default=200_000, ge=1, description="In-memory hand-off bound before points reach the spool or the store."
    )
    retention_days: float = Field(default=7.0, gt=0, le=3650, description="Embedded store retention.")
    prune_interval_s: float = Field(default=300.0, gt=0, description="How often the embedded store prunes.")

    @field_validator("influx_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"influx_url must look like http(s)://host:port, got {value!r}")
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise ValueError(f"bad port in influx_url {value!r}") from None
        return value.rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> TimeseriesSettings:
        """Settings from ``COMPOUND_INFLUX_URL/ORG/BUCKET`` (when set), then ``overrides``."""
        source = os.environ if env is None else env
        values: dict[str, object] = {key: source[name] for key, name in _ENV.items() if source.get(name)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
