"""Door contacts: a fire door held open too long; an entrance forced open (no access grant) during night mode."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from compound.config import Device, DeviceType, DoorRole
from compound.config.models import DoorRule
from compound.drivers import Quantity, Sample
from compound.wire import EventKind, EventState, Severity
from edge.rules.base import Verdict, location_text

__all__ = ["FireDoorHeldOpen", "NightEntrance", "is_open"]

CRITICAL_AFTER = 5.0
"""A fire door open this many times its limit becomes critical (wedged, not just slow to close)."""


def is_open(sample: Sample) -> bool:
    """A door sample reads open (1.0) rather than closed (0.0)."""
    return sample.value >= 0.5


class FireDoorHeldOpen:
    """``door_held_open`` when a fire door stays open past ``fire_door_open_max_s``; clears when it closes.

    Time passing raises it (on ticks, no sample needed); it turns critical after ``CRITICAL_AFTER``
    times the limit; closing clears it.
    """

    name = "fire_door"

    def __init__(self, params: DoorRule) -> None:
        self.params = params
        self._devices: dict[str, Device] = {}
        self._open_since: dict[str, datetime] = {}
        self._raised: dict[str, Severity] = {}

    def applies_to(self, device: Device) -> bool:
        return device.type is DeviceType.DOOR_CONTACT and device.door_role is DoorRole.FIRE_DOOR

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        if sample.quantity is not Quantity.DOOR:
            return ()
        self._devices[device.id] = device
        if is_open(sample):
            self._open_since.setdefault(device.id, sample.at)
            return self._check(device.id, sample.at)
        since = self._open_since.pop(device.id, None)
        if self._raised.pop(device.id, None) is None:
            return ()
        held = (sample.at - since).total_seconds() if since else None
        text = f"fire door {location_text(device)} closed"
        return (
            Verdict(
                device.id,
                EventKind.DOOR_HELD_OPEN,
                EventState.CLEARED,
                Severity.INFO,
                sample.at,
                held,
                "s",
                self.params.fire_door_open_max_s,
                text,
            ),
        )

    def _check(self, device_id: str, now: datetime) -> Sequence[Verdict]:
        since = self._open_since.get(device_id)
        if since is None:
            return ()
        held = (now - since).total_seconds()
        limit = self.params.fire_door_open_max_s
        if held < limit:
            return ()
        severity = Severity.CRITICAL if held >= CRITICAL_AFTER * limit else Severity.WARNING
        previous = self._raised.get(device_id)
        if previous == severity:
            return ()
        self._raised[device_id] = severity
        state = EventState.RAISED if previous is None else EventState.UPDATED
        where = location_text(self._devices[device_id])
        text = f"fire door {where} open for {held:.0f} s (limit {limit:g} s)"
        return (Verdict(device_id, EventKind.DOOR_HELD_OPEN, state, severity, now, held, "s", limit, text),)

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        out: list[Verdict] = []
        for device_id in list(self._open_since):
            out.extend(self._check(device_id, now))
        return out

    def restore(self, device: str, kind: EventKind) -> bool:
        if kind is not EventKind.DOOR_HELD_OPEN:
            return False
        self._raised[device] = Severity.WARNING
        return True


class NightEntrance:
    """``door_forced`` when a unit entrance (or site gate) opens during night mode with no access grant.

    Access control's "door forced open": the door's reader reports every accepted credential and every
    press of the exit button as an ``ACCESS`` sample; an opening counts as granted when such a grant came
    at most ``grant_window_s`` before it (the lock stays released that long, so one grant covers the
    door reopening inside the window). An opening with no grant inside night mode raises the event; the
    door closing clears it. By day nothing is raised: doors may be left on free access.
    """

    name = "night_entrance"

    def __init__(self, params: DoorRule, tz: ZoneInfo) -> None:
        self.params = params
        self.tz = tz
        self._open: dict[str, bool] = {}
        self._granted: dict[str, datetime] = {}
        self._raised: set[str] = set()

    def applies_to(self, device: Device) -> bool:
        return device.type is DeviceType.DOOR_CONTACT and device.door_role in (DoorRole.UNIT_ENTRANCE, DoorRole.GATE)

    def night(self, at: datetime) -> bool:
        """Whether ``at`` falls inside night mode, in the compound's timezone."""
        return self.params.night_mode.contains(at.astimezone(self.tz).time())

    def granted(self, device: str, at: datetime) -> bool:
        """Whether a grant at ``device``'s reader came at most ``grant_window_s`` before ``at``."""
        grant = self._granted.get(device)
        return grant is not None and 0.0 <= (at - grant).total_seconds() <= self.params.grant_window_s

    def on_sample(self, device: Device, sample: Sample) -> Sequence[Verdict]:
        if sample.quantity is Quantity.ACCESS:
            if sample.value >= 0.5:
                latest = self._granted.get(device.id)
                if latest is None or sample.at > latest:
                    self._granted[device.id] = sample.at
            return ()
        if sample.quantity is not Quantity.DOOR:
            return ()
        opened = is_open(sample)
        was_open = self._open.get(device.id, False)
        self._open[device.id] = opened
        if (
            opened
            and not was_open
            and device.id not in self._raised
            and self.night(sample.at)
            and not self.granted(device.id, sample.at)
        ):
            self._raised.add(device.id)
            local = sample.at.astimezone(self.tz).strftime("%H:%M:%S")
            text = (
                f"{location_text(device)} forced open at {local} during night mode: "
                f"no card or exit button in the {self.params.grant_window_s:g} s before"
            )
            return (
                Verdict(
                    device.id,
                    EventKind.DOOR_FORCED,
                    EventState.RAISED,
                    Severity.WARNING,
                    sample.at,
                    1.0,
                    "open",
                    None,
                    text,
                ),
            )
        if not opened and device.id in self._raised:
            self._raised.discard(device.id)
            text = f"{location_text(device)} closed again"
            return (
                Verdict(
                    device.id,
                    EventKind.DOOR_FORCED,
                    EventState.CLEARED,
                    Severity.INFO,
                    sample.at,
                    0.0,
                    "open",
                    None,
                    text,
                ),
            )
        return ()

    def on_tick(self, now: datetime) -> Sequence[Verdict]:
        return ()

    def restore(self, device: str, kind: EventKind) -> bool:
        if kind is not EventKind.DOOR_FORCED:
            return False
        self._raised.add(device)
        self._open[device] = True
        return True
