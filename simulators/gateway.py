"""A simulated Zigbee-style gateway: every smoke, gas and door device of one edge, stepped on simulated time.

The physics advances on a fixed grid of ``step_s`` simulated seconds from ``start``; ``poll(now)`` runs
every grid step up to ``now`` and returns what the devices reported meanwhile, so the samples depend
on the seed and the scenario, never on how often or when the gateway is polled. Each device draws
from its own random generator (seed + a stable hash of its id), so adding a device or polling in a
different order changes nothing for the others. Devices in clean air are touched only when a report
is due, which keeps a 400-device edge far faster than real time. How each device reports, and its
state, are in ``simulators.devices``.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from compound.config import Compound, DeviceType, DoorRole
from compound.drivers import Quantity, Sample
from simulators.devices import Reporting, SimDevice, device_rng
from simulators.physics import FlatAir, Puff
from simulators.routines import PROFILES, LocalHour, habit_times, next_arrival
from simulators.scenario import SIMULATED_TYPES, Action, Growth, Scenario, Step, check_scenario, parse_flat

__all__ = ["GRANT_LEAD_S", "Reporting", "SimulatedGateway", "device_rng"]

log = logging.getLogger(__name__)

FlatKey = tuple[str, str | None, str | None]

ARRIVE, CLOSE, ARRIVE_HABIT, NEW_DAY, OPEN = range(5)
"""Door events: a routine visit (draws the next one), the closer shutting, a daily habit, a new local day,
a door opening after its reader granted access."""

GRANT_LEAD_S = 2.0
"""Seconds between the grant and the opening of a scripted ``open_door`` with ``grant: true``."""

DRAW_HOLD = -1.0
"""Hold time of an ``OPEN`` door event that draws it from the door's profile when it happens."""


class SimulatedGateway:
    """The ``sim`` sensor driver: an edge's smoke, gas and door devices driven by physics and a scenario."""

    name = "sim"

    def __init__(
        self,
        compound: Compound,
        edge_id: str,
        *,
        scenario: Scenario | None = None,
        seed: int | None = None,
        start: datetime | None = None,
        reporting: Reporting | None = None,
    ) -> None:
        if edge_id not in compound.edges():
            raise ValueError(f"unknown edge {edge_id!r}; edges: {', '.join(compound.edges())}")
        if scenario is not None:
            check_scenario(scenario, compound)
        self.compound = compound
        self.edge_id = edge_id
        self.scenario = scenario
        self.seed = seed if seed is not None else (scenario.seed if scenario is not None else 0)
        if self.seed < 0:
            raise ValueError(f"seed must be 0 or more, got {self.seed}")
        self.reporting = reporting or Reporting()
        self._start: datetime | None = None
        self._k = 0
        self._devices: list[SimDevice] = []
        self._by_id: dict[str, SimDevice] = {}
        self._airs: dict[FlatKey, FlatAir] = {}
        self._air_devices: dict[int, list[SimDevice]] = {}
        self._active_airs: dict[int, FlatAir] = {}
        self._noisy: dict[str, SimDevice] = {}
        self._due: list[tuple[float, int, str]] = []
        # (time, order, door event kind, device id, hold seconds of an OPEN or DRAW_HOLD)
        self._doors: list[tuple[float, int, int, str, float]] = []
        self._order = 0
        self._steps: list[Step] = scenario.steps() if scenario is not None else []
        self._next_step = 0
        self._routines = scenario.routines if scenario is not None else True
        self._hour: LocalHour | None = None
        self._out: list[Sample] = []
        self._build()
        begin = start if start is not None else (scenario.start if scenario is not None else None)
        if begin is not None:
            self._begin(begin)

    # ------------------------------------------------------------------ public driver API

    def devices(self) -> Sequence[str]:
        """Ids of this edge's simulated smoke, gas and door devices."""
        return [d.id for d in self._devices]

    @property
    def start(self) -> datetime | None:
        """Simulated time of step 0 (set at the first poll when not given)."""
        return self._start

    @property
    def elapsed(self) -> float:
        """Simulated seconds already stepped."""
        return self._k * self.reporting.step_s

    def poll(self, now: datetime) -> Sequence[Sample]:
        """Step the physics up to ``now`` and return the samples produced since the last poll, oldest first."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self._start is None:
            self._begin(now)
            return []
        assert self._start is not None
        dt = self.reporting.step_s
        target = math.floor((now - self._start).total_seconds() / dt + 1e-9)
        while self._k < target:
            self._k += 1
            self._step(self._k * dt)
        out, self._out = self._out, []
        out.sort(key=lambda s: s.at)
        return out

    def close(self) -> None:
        """Nothing to release: the simulation lives in memory."""
        self._out = []

    # ------------------------------------------------------------------ set-up

    def _build(self) -> None:
        rep = self.reporting
        for device in self.compound.devices_of_edge(self.edge_id):
            if device.type not in SIMULATED_TYPES:
                continue
            rng = device_rng(self.seed, device.id)
            if device.type is DeviceType.DOOR_CONTACT:
                role = device.door_role or DoorRole.UNIT_ENTRANCE
                sim = SimDevice(device, Quantity.DOOR, rng, profile=PROFILES[role])
            else:
                key: FlatKey = device.flat_key or (device.building, device.unit, device.place)
                air = self._airs.setdefault(key, FlatAir())
                smoke = device.type is DeviceType.SMOKE_DETECTOR
                quantity = Quantity.SMOKE if smoke else Quantity.GAS
                # Clean-air offsets: a detector never reads a flat zero (which would look stuck).
                baseline = float(rng.uniform(0.004, 0.012)) if smoke else float(rng.uniform(0.3, 1.2))
                sim = SimDevice(device, quantity, rng, air=air, baseline=baseline)
                sim.last_sensed = baseline
                self._air_devices.setdefault(id(air), []).append(sim)
            if device.battery:
                sim.battery = float(rng.uniform(55.0, 100.0))
            # Devices joined the network at different moments: spread their periodic reports.
            sim.last_t = -float(rng.uniform(0.0, rep.report_interval_s))
            self._devices.append(sim)
            self._by_id[device.id] = sim

    def _begin(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._start = start.astimezone(UTC)
        self._hour = LocalHour(start, self.compound.tz)
        for sim in self._devices:
            self._arm(sim)
            if sim.profile is not None and self._routines:
                self._schedule_arrival(sim, 0.0)
                if sim.profile.habits:
                    self._schedule_habits(sim)

    # ------------------------------------------------------------------ stepping

    def _step(self, t: float) -> None:
        dt = self.reporting.step_s
        while self._doors and self._doors[0][0] <= t:
            when, _, kind, dev_id, hold = heapq.heappop(self._doors)
            self._door_event(self._by_id[dev_id], when, kind, hold)
        while self._next_step < len(self._steps) and self._steps[self._next_step].at <= t:
            self._apply(self._steps[self._next_step], t)
            self._next_step += 1
        stepped: list[FlatAir] = []
        for key, air in list(self._active_airs.items()):
            air.step(t - dt, dt)
            stepped.append(air)
            if not air.active(t):
                del self._active_airs[key]
        for air in stepped:
            for sim in self._air_devices.get(id(air), ()):
                self._evaluate(sim, t)
        for sim in self._noisy.values():
            if sim.evaluated_at != t:
                self._evaluate(sim, t)
        while self._due and self._due[0][0] <= t:
            due, _, dev_id = heapq.heappop(self._due)
            sim = self._by_id[dev_id]
            if due != sim.last_t + self.reporting.report_interval_s or sim.evaluated_at == t:
                continue  # stale entry, or already handled this step
            if sim.quantity is Quantity.DOOR:
                self._report(sim, t, sim.door_value())
            else:
                self._evaluate(sim, t)

    def _evaluate(self, sim: SimDevice, t: float) -> None:
        """Decide whether a smoke/gas device reports at ``t`` (deadband, fast or periodic interval)."""
        sim.evaluated_at = t
        value = sim.reading(t, self.reporting)
        if value is not None:
            self._report(sim, t, value)

    def _report(self, sim: SimDevice, t: float, value: float) -> None:
        """Emit one sample (unless the device is silent) and re-arm its periodic report."""
        if sim.offline or sim.dead:
            return
        battery = sim.battery_at(t)
        if battery is not None and battery <= 0.0:
            sim.dead = True
            log.info("simulated device %s: battery empty, now silent", sim.id)
            return
        assert self._start is not None
        sim.last_t = t
        sim.last_value = value
        self._out.append(
            Sample(
                sim.id,
                sim.quantity,
                value,
                self._start + timedelta(seconds=t),
                None if battery is None else round(battery * 2.0) / 2.0,
            )
        )
        self._arm(sim)

    def _arm(self, sim: SimDevice) -> None:
        heapq.heappush(self._due, (sim.last_t + self.reporting.report_interval_s, self._seq(), sim.id))

    def _seq(self) -> int:
        self._order += 1
        return self._order

    # ------------------------------------------------------------------ doors

    def _schedule_arrival(self, sim: SimDevice, after: float) -> None:
        assert sim.profile is not None and self._hour is not None
        when = next_arrival(after, sim.profile, self._hour, sim.rng)
        heapq.heappush(self._doors, (when, self._seq(), ARRIVE, sim.id, DRAW_HOLD))

    def _schedule_habits(self, sim: SimDevice) -> None:
        """Queue the habitual openings of the door's next local day, and the day after's planning."""
        assert sim.profile is not None and self._start is not None
        times, next_day = habit_times(sim.habit_day, self._start, self.compound.tz, sim.profile, sim.rng)
        sim.habit_day += 1
        for when in times:
            if when > 0:
                heapq.heappush(self._doors, (when, self._seq(), ARRIVE_HABIT, sim.id, DRAW_HOLD))
        heapq.heappush(self._doors, (next_day, self._seq(), NEW_DAY, sim.id, DRAW_HOLD))

    def _door_event(self, sim: SimDevice, when: float, kind: int, hold: float) -> None:
        if kind == NEW_DAY:
            self._schedule_habits(sim)
        elif kind in (ARRIVE, ARRIVE_HABIT):  # a resident comes to the door
            assert sim.profile is not None
            if kind == ARRIVE:
                self._schedule_arrival(sim, when)
            if sim.profile.badge_s is not None and not sim.is_open and not sim.wedged:
                # A locked door with a reader: card, face or code (the exit button on the way out) first,
                # then the resident pulls the door open a moment later.
                lead = float(sim.rng.uniform(*sim.profile.badge_s))
                if not sim.inactive:
                    self._grant(sim, when)
                    heapq.heappush(self._doors, (when + lead, self._seq(), OPEN, sim.id, DRAW_HOLD))
                return
            held = float(sim.rng.uniform(*sim.profile.open_s))
            if sim.inactive or sim.wedged:
                return
            self._open(sim, when, held)
        elif kind == OPEN:
            if hold == DRAW_HOLD:
                assert sim.profile is not None
                hold = float(sim.rng.uniform(*sim.profile.open_s))
            self._open(sim, when, hold)
        elif when == sim.close_at and sim.is_open and not sim.wedged:
            sim.is_open = False
            self._transition(sim, when, 0.0)

    def _open(self, sim: SimDevice, when: float, hold: float) -> None:
        if not sim.is_open:
            sim.is_open = True
            self._transition(sim, when, 1.0)
        if when + hold > sim.close_at:
            sim.close_at = when + hold
            heapq.heappush(self._doors, (sim.close_at, self._seq(), CLOSE, sim.id, DRAW_HOLD))

    def _transition(self, sim: SimDevice, when: float, value: float) -> None:
        if sim.stuck is None:
            self._report(sim, when, value)

    def _grant(self, sim: SimDevice, when: float) -> None:
        """The door's reader accepted a credential (or its exit button was pressed): one ACCESS sample.

        The reader shares the door contact's controller: silent while the contact is offline or dead. It
        is not a report of the contact's state, so the periodic report schedule is left alone.
        """
        if sim.offline or sim.dead:
            return
        assert self._start is not None
        self._out.append(Sample(sim.id, Quantity.ACCESS, 1.0, self._start + timedelta(seconds=when)))

    # ------------------------------------------------------------------ scenario actions

    def _air_of(self, flat: str) -> FlatAir | None:
        building, unit, number = parse_flat(flat)
        return self._airs.get((building, unit, number))

    def _apply(self, step: Step, t: float) -> None:
        """Apply one timeline step at grid time ``t`` (steps for other edges are ignored)."""
        if step.flat is not None:
            air = self._air_of(step.flat)
            if step.action in (Action.RESIDENT_INACTIVE, Action.RESIDENT_ACTIVE):
                key = parse_flat(step.flat)
                for door in self._devices:
                    if door.device.flat_key == key and door.device.door_role is DoorRole.FLAT_DOOR:
                        door.inactive = step.action is Action.RESIDENT_INACTIVE
                return
            if air is None:
                return
            log.debug("scenario step at %.0fs: %s %s", t, step.action.value, step.flat)
            if step.action is Action.FIRE:
                air.ignite(t, (step.growth or Growth.MEDIUM).alpha, step.peak_kw or 1000.0)
            elif step.action is Action.BURNT_TOAST:
                air.puffs.append(Puff(t, step.peak or 0.25, step.duration_s or 8.0))
            elif step.action is Action.EXTINGUISH:
                air.extinguish(t)
            elif step.action is Action.VENTILATE:
                air.ach = step.ach or 12.0
            elif step.action is Action.GAS_LEAK:
                air.leak_rate = step.rate or 0.0
            elif step.action is Action.STOP_LEAK:
                air.leak_rate = 0.0
            self._active_airs[id(air)] = air
            return
        sim = self._by_id.get(step.device or "")
        if sim is None:
            return
        log.debug("scenario step at %.0fs: %s %s", t, step.action.value, sim.id)
        action = step.action
        if action is Action.WEDGE_DOOR:
            sim.wedged = True
            self._open(sim, t, 0.0)
        elif action is Action.RELEASE_DOOR:
            sim.wedged = False
            if sim.is_open:
                sim.is_open = False
                sim.close_at = t
                self._transition(sim, t, 0.0)
        elif action is Action.OPEN_DOOR:
            if step.grant:
                # A resident with a card: the grant now, the door opening a moment later.
                self._grant(sim, t)
                heapq.heappush(self._doors, (t + GRANT_LEAD_S, self._seq(), OPEN, sim.id, step.hold_s or 30.0))
            else:
                self._open(sim, t, step.hold_s or 30.0)
        elif action is Action.BATTERY_DRAIN:
            level = step.level if step.level is not None else (sim.battery_at(t) or 0.0)
            sim.battery, sim.battery_t0, sim.battery_rate = level, t, (step.rate or 0.0) / 3600.0
        elif action is Action.GO_OFFLINE:
            sim.offline = True
        elif action is Action.COME_ONLINE:
            if sim.offline:
                sim.offline = False
                self._announce(sim, t)
        elif action is Action.STUCK:
            if sim.quantity is Quantity.DOOR:
                sim.stuck = sim.door_value()
            else:
                sim.stuck = sim.frozen_value(self.reporting)
        elif action is Action.NOISY:
            rep = self.reporting
            smoke = sim.quantity is Quantity.SMOKE
            sim.noise_sd = step.stddev or (rep.noisy_smoke_stddev if smoke else rep.noisy_gas_stddev)
            self._noisy[sim.id] = sim
        elif action is Action.RECOVER:
            sim.stuck = None
            sim.noise_sd = 0.0
            self._noisy.pop(sim.id, None)

    def _announce(self, sim: SimDevice, t: float) -> None:
        """A device back online reports at once, like a rejoining Zigbee end device."""
        if sim.quantity is Quantity.DOOR:
            self._report(sim, t, sim.door_value())
        else:
            sim.last_t = -math.inf
            self._evaluate(sim, t)
