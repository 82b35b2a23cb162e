"""The rule parameters of ``compound.yaml`` (``rules:``): smoke, gas, doors, care, device faults, intervals."""

from __future__ import annotations

from datetime import time

from pydantic import Field, model_validator

from compound.config.base import Strict, TimeWindow


class SmokeRule(Strict):
    """Smoke alarm: obscuration above ``threshold`` held for ``confirm_s``; clears below ``clear_below``."""

    threshold: float = Field(default=0.15, gt=0, le=5, description="Alarm threshold, dB/m obscuration.")
    clear_below: float = Field(default=0.08, ge=0, le=5, description="Clears below this, dB/m (hysteresis).")
    confirm_s: float = Field(default=10, ge=0, le=300, description="Seconds above threshold before raising.")
    clear_s: float = Field(default=30, ge=0, le=3600, description="Seconds below clear level before clearing.")

    @model_validator(mode="after")
    def _band(self) -> SmokeRule:
        if self.clear_below >= self.threshold:
            raise ValueError("clear_below must be lower than threshold (hysteresis band)")
        return self


class GasRule(Strict):
    """Gas: pre-alarm and alarm at two %LEL levels, each with hysteresis."""

    pre_alarm: float = Field(default=10, gt=0, le=100, description="Pre-alarm level, %LEL.")
    alarm: float = Field(default=25, gt=0, le=100, description="Alarm level, %LEL.")
    hysteresis: float = Field(default=3, ge=0, le=20, description="A level clears this many %LEL below it.")
    confirm_s: float = Field(default=5, ge=0, le=300, description="Seconds above a level before raising.")
    clear_s: float = Field(default=30, ge=0, le=3600, description="Seconds below a level before clearing.")

    @model_validator(mode="after")
    def _levels(self) -> GasRule:
        if self.pre_alarm >= self.alarm:
            raise ValueError("pre_alarm must be lower than alarm")
        if self.hysteresis >= self.pre_alarm:
            raise ValueError("hysteresis must be smaller than pre_alarm")
        return self


class DoorRule(Strict):
    """Door rules: fire door held open; entrance opened during night mode."""

    fire_door_open_max_s: float = Field(
        default=120, gt=0, le=86400, description="A fire door open longer than this raises an event."
    )
    night_mode: TimeWindow = Field(
        default=TimeWindow(start=time(23, 30), end=time(5, 30)),
        description="Daily window when an entrance opened without a resident card counts as forced.",
    )
    grant_window_s: float = Field(
        default=10,
        ge=0,
        le=300,
        description="An opening counts as granted if the door's reader accepted a credential (or its exit "
        "button was pressed) at most this many seconds before it.",
    )


class CareRule(Strict):
    """Care households: no door activity for too long."""

    inactive_after_s: float = Field(
        default=12 * 3600, ge=60, le=7 * 86400, description="Default silence before a care event, seconds."
    )


class FaultRule(Strict):
    """Device faults: offline, low battery, stuck value, noisy readings."""

    offline_after_s: float = Field(default=300, ge=5, le=86400, description="No reading for this long: offline.")
    low_battery_pct: float = Field(default=15, ge=1, le=50, description="Battery percent that raises low_battery.")
    battery_clear_pct: float = Field(default=25, ge=2, le=100, description="Battery percent that clears it.")
    stuck_after_s: float = Field(
        default=6 * 3600, ge=60, le=7 * 86400, description="Bit-identical readings for this long: stuck."
    )
    noise_window: int = Field(default=30, ge=5, le=1000, description="Readings in the noise window.")
    noise_stddev: float = Field(
        default=0.05, gt=0, le=100, description="Smoke stddev (dB/m) over the window that means noisy."
    )
    noise_confirm_s: float = Field(
        default=60, ge=0, le=86400, description="Noise above noise_stddev for this long raises noisy_signal."
    )
    noise_clear_s: float = Field(
        default=600, ge=0, le=86400, description="Noise below half of noise_stddev for this long clears it."
    )


class Rules(Strict):
    """Edge rule parameters for the compound."""

    smoke: SmokeRule = Field(default_factory=SmokeRule, description="Smoke detector rule.")
    gas: GasRule = Field(default_factory=GasRule, description="Gas detector rule.")
    door: DoorRule = Field(default_factory=DoorRule, description="Door contact rules.")
    care: CareRule = Field(default_factory=CareRule, description="Care household rule.")
    fault: FaultRule = Field(default_factory=FaultRule, description="Device fault rules.")
    reading_interval_s: float = Field(
        default=60, ge=1, le=3600, description="Seconds between periodic readings published per device."
    )
    heartbeat_interval_s: float = Field(default=30, ge=1, le=3600, description="Seconds between heartbeats.")
