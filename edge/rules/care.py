"""Care households: no activity on the flat door for too long (per-household override)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from compound.config import Compound, Device, DeviceType, DoorRole
from compound.drivers import Quantity, Sample
from compound.wire import EventKind, EventState, Severity
from edge.rules.base import Verdict, location_text
from edge.rules.doors import is_open

__all__ = ["CareInactivity"]


class CareInactivity:
    """``care_inactive`` when a care household's flat door has not changed state for its silence limit.

    Activity is a change of door state (an open or a close). The watch starts at the agent's first tick
    (after a restart the silence counts from then). Any activity clears the event.
    """

    name = "care"

    def __init__(self, compound: Compound) -> None:
        self.compound = compound
        self._limit: dict[str, float] = {}
        self._devices: dict[str, Device] = {}
        self._last_activity: dict[str, datetime] = {}
        self._state: dict[str, bool] = {}
        self._raised: set[str] = set()
        self._started: datetime | None = None

    def applies_to(self, device: Device) -> bool:
        if device.type is not DeviceType.DOOR_CONTACT or device.door_role is not DoorRole.FLAT_DOOR:
            return False
        key = device.flat_key
        household = self.compound.household(*key) if key else None
        if household is None or household.care is None:
            return False
        self._limit[device.id] = household.care.inactive_after_s or self.compound.rules.care.inactive_after_s
        self._devices[device.id] = device
        return True

    def limit(self, device: str) -> float:
        """Silence (seconds) after which ``device``'s household is reported inactive."""
        return self._limit[device]

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        if sample.quantity is not Quantity.DOOR:
            return ()
        opened = is_open(sample)
        previous = self._state.get(device.id)
        self._state[device.id] = opened
        if previous is None or previous == opened:
            return ()
        self._last_activity[device.id] = sample.at
        if device.id not in self._raised:
            return ()
        self._raised.discard(device.id)
        text = f"activity at care household {location_text(device)}"
        return (
            Verdict(
                device.id,
                EventKind.CARE_INACTIVE,
                EventState.CLEARED,
                Severity.INFO,
                sample.at,
                0.0,
                "s",
                self._limit[device.id],
                text,
            ),
        )

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        if self._started is None:
            self._started = now
        out: list[Verdict] = []
        for device_id, limit in self._limit.items():
            if device_id in self._raised:
                continue
            last = self._last_activity.get(device_id, self._started)
            silent = (now - last).total_seconds()
            if silent >= limit:
                self._raised.add(device_id)
                where = location_text(self._devices[device_id])
                text = f"no door activity at care household {where} for {silent / 3600:.1f} h"
                out.append(
                    Verdict(
                        device_id,
                        EventKind.CARE_INACTIVE,
                        EventState.RAISED,
                        Severity.WARNING,
                        now,
                        silent,
                        "s",
                        limit,
                        text,
                    )
                )
        return out

    def restore(self, device: str, kind: EventKind) -> bool:
        if kind is not EventKind.CARE_INACTIVE:
            return False
        self._raised.add(device)
        return True
