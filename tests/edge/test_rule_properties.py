"""Property-based tests of the rules: no event without confirmation, no flapping, every raise clears."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from compound.config import Device, DeviceType, DoorRole
from compound.config.models import DoorRule, GasRule, SmokeRule
from compound.drivers import Quantity, Sample
from compound.wire import EventKind, EventState
from edge.rules import GasAlarm, Latch, NightEntrance, SmokeAlarm, Transition, Verdict
from tests.edge.conftest import NIGHT

SMOKE_DEV = Device("b2-u1-1502-smoke", DeviceType.SMOKE_DETECTOR, "b2", "b2", "u1", 15, "1502")
GAS_DEV = Device("b2-u1-1502-gas", DeviceType.GAS_DETECTOR, "b2", "b2", "u1", 15, "1502", "kitchen")

smoke_params = st.builds(
    lambda thr, gap, confirm, clear: SmokeRule(threshold=thr, clear_below=thr * gap, confirm_s=confirm, clear_s=clear),
    st.floats(0.05, 2.0),
    st.floats(0.1, 0.9),
    st.integers(0, 60),
    st.integers(0, 120),
)
steps = st.lists(st.tuples(st.floats(0.1, 15.0), st.floats(0.0, 3.0)), min_size=1, max_size=150)
"""(seconds since the previous sample, value) pairs."""


def feed_smoke(rule: SmokeAlarm, series: list[tuple[float, float]]) -> tuple[list[Sample], list[tuple[int, Verdict]]]:
    """Feed a series; return the samples and (index of the sample that produced it, verdict)."""
    at = NIGHT
    samples: list[Sample] = []
    verdicts: list[tuple[int, Verdict]] = []
    for i, (dt, value) in enumerate(series):
        at += timedelta(seconds=dt)
        sample = Sample(SMOKE_DEV.id, Quantity.SMOKE, value, at)
        samples.append(sample)
        verdicts += [(i, v) for v in rule.on_sample(SMOKE_DEV, sample)]
    return samples, verdicts


@settings(max_examples=300, deadline=None)
@given(smoke_params, steps)
def test_no_smoke_event_without_confirmation(params: SmokeRule, series: list[tuple[float, float]]) -> None:
    """Test that every smoke raise is preceded by samples at or above threshold spanning at least confirm_s."""
    samples, verdicts = feed_smoke(SmokeAlarm(params), series)
    for index, verdict in verdicts:
        if verdict.state is not EventState.RAISED:
            continue
        start = index
        while start > 0 and samples[start - 1].value >= params.threshold:
            start -= 1
        assert all(s.value >= params.threshold for s in samples[start : index + 1])
        assert (samples[index].at - samples[start].at).total_seconds() >= params.confirm_s


@settings(max_examples=300, deadline=None)
@given(smoke_params, steps, st.lists(st.tuples(st.floats(0.1, 15.0), st.floats(0.0, 1.0)), max_size=150))
def test_no_flapping_inside_the_hysteresis_band(
    params: SmokeRule, history: list[tuple[float, float]], band: list[tuple[float, float]]
) -> None:
    """Test that, whatever came before, values inside [clear_below, threshold) never raise or clear smoke."""
    rule = SmokeAlarm(params)
    samples, _ = feed_smoke(rule, history)
    at = samples[-1].at
    lo, hi = params.clear_below, params.threshold
    for dt, fraction in band:
        at += timedelta(seconds=dt)
        value = min(lo + fraction * (hi - lo), hi * 0.999999)
        for verdict in rule.on_sample(SMOKE_DEV, Sample(SMOKE_DEV.id, Quantity.SMOKE, value, at)):
            assert verdict.state is EventState.UPDATED


@settings(max_examples=300, deadline=None)
@given(smoke_params, steps, st.floats(0.0, 0.999))
def test_every_smoke_raise_is_eventually_cleared(
    params: SmokeRule, history: list[tuple[float, float]], calm: float
) -> None:
    """Test that raises and clears alternate, and a signal back under clear_below clears within clear_s."""
    rule = SmokeAlarm(params)
    samples, verdicts = feed_smoke(rule, history)
    at = samples[-1].at
    normal = params.clear_below * calm
    for _ in range(int(params.clear_s) + 2):
        at += timedelta(seconds=1)
        verdicts += [(-1, v) for v in rule.on_sample(SMOKE_DEV, Sample(SMOKE_DEV.id, Quantity.SMOKE, normal, at))]
    transitions = [v.state for _, v in verdicts if v.state is not EventState.UPDATED]
    assert transitions == [EventState.RAISED, EventState.CLEARED] * (len(transitions) // 2)
    assert not rule.is_raised(SMOKE_DEV.id)


gas_params = st.builds(
    lambda pre, gap, hyst, confirm, clear: GasRule(
        pre_alarm=pre, alarm=pre + gap, hysteresis=min(hyst * pre, 20.0), confirm_s=confirm, clear_s=clear
    ),
    st.floats(2.0, 30.0),
    st.floats(1.0, 40.0),
    st.floats(0.0, 0.9),
    st.integers(0, 30),
    st.integers(0, 60),
)


@settings(max_examples=300, deadline=None)
@given(gas_params, st.lists(st.tuples(st.floats(0.1, 10.0), st.floats(0.0, 100.0)), min_size=1, max_size=150))
def test_gas_levels_confirm_alternate_and_clear(params: GasRule, series: list[tuple[float, float]]) -> None:
    """Test that each gas level raises only after confirm_s at or above it, alternates, and clears at 0 %LEL."""
    rule = GasAlarm(params)
    at = NIGHT
    samples: list[Sample] = []
    verdicts: list[tuple[int, Verdict]] = []
    for dt, value in [*series, *[(1.0, 0.0)] * (int(params.clear_s) + 2)]:
        at += timedelta(seconds=dt)
        samples.append(Sample(GAS_DEV.id, Quantity.GAS, value, at))
        verdicts += [(len(samples) - 1, v) for v in rule.on_sample(GAS_DEV, samples[-1])]
    for kind, level, _ in rule.levels():
        mine = [(i, v) for i, v in verdicts if v.kind is kind and v.state is not EventState.UPDATED]
        assert [v.state for _, v in mine] == [EventState.RAISED, EventState.CLEARED] * (len(mine) // 2)
        for index, verdict in mine:
            if verdict.state is EventState.RAISED:
                start = index
                while start > 0 and samples[start - 1].value >= level:
                    start -= 1
                assert (samples[index].at - samples[start].at).total_seconds() >= params.confirm_s
        assert not rule.is_raised(GAS_DEV.id, kind)
    assert {v.kind for _, v in verdicts} <= {EventKind.GAS, EventKind.GAS_PRE_ALARM}


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 30),
    st.integers(0, 30),
    st.lists(st.tuples(st.floats(0.1, 10.0), st.sampled_from(["trigger", "band", "release"])), max_size=200),
)
def test_latch_transitions_alternate_and_respect_both_delays(
    confirm: int, clear: int, series: list[tuple[float, str]]
) -> None:
    """Test that a latch alternates, raises after confirm_s of triggers and clears after clear_s of releases."""
    latch = Latch(confirm, clear)
    at = NIGHT
    run_start: dict[str, object] = {}
    previous: str | None = None
    last: Transition | None = None
    for dt, kind in series:
        at += timedelta(seconds=dt)
        if kind != previous:
            run_start = {kind: at}
            previous = kind
        transition = latch.step(at, trigger=kind == "trigger", release=kind == "release")
        if transition is not None:
            assert transition != last
            last = transition
            needed = confirm if transition is Transition.RAISE else clear
            assert kind == ("trigger" if transition is Transition.RAISE else "release")
            started = run_start[kind]
            assert isinstance(started, type(at))
            assert (at - started).total_seconds() >= needed
    assert latch.raised == (last is Transition.RAISE)


ENTRANCE_DEV = Device(
    "b2-u1-entrance", DeviceType.DOOR_CONTACT, "b2", "b2", "u1", place="entrance", door_role=DoorRole.UNIT_ENTRANCE
)
door_visits = st.lists(st.tuples(st.floats(0.5, 7200.0), st.floats(0.5, 60.0), st.booleans()), min_size=1, max_size=60)
"""(seconds since the previous door closed, seconds held open, whether a heartbeat is sent while open)."""


def door_samples(
    visits: list[tuple[float, float, bool]], leads: Sequence[float | None], start: datetime
) -> list[Sample]:
    """Door open/close samples (with heartbeats), each opening preceded by a grant ``lead`` s before (None: none)."""
    at = start
    out: list[Sample] = [Sample(ENTRANCE_DEV.id, Quantity.DOOR, 0.0, at)]
    for (gap, held, heartbeat), lead in zip(visits, leads, strict=True):
        out.append(Sample(ENTRANCE_DEV.id, Quantity.DOOR, 0.0, at + timedelta(seconds=gap / 2)))  # heartbeat, closed
        at += timedelta(seconds=gap)
        if lead is not None:
            out.append(Sample(ENTRANCE_DEV.id, Quantity.ACCESS, 1.0, at - timedelta(seconds=lead)))
        out.append(Sample(ENTRANCE_DEV.id, Quantity.DOOR, 1.0, at))
        if heartbeat:
            out.append(Sample(ENTRANCE_DEV.id, Quantity.DOOR, 1.0, at + timedelta(seconds=held / 2)))
        at += timedelta(seconds=held)
        out.append(Sample(ENTRANCE_DEV.id, Quantity.DOOR, 0.0, at))
    return sorted(out, key=lambda s: s.at)


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 120.0), door_visits, st.data())
def test_no_forced_door_when_every_opening_has_a_grant(
    window: float, visits: list[tuple[float, float, bool]], data: st.DataObject
) -> None:
    """Test that, night or day, an entrance whose every opening follows a grant inside the window is never forced."""
    rule = NightEntrance(DoorRule(grant_window_s=window), ZoneInfo("Asia/Shanghai"))
    # Readers stamp grants to the millisecond; datetimes hold microseconds, so a float lead would be rounded.
    leads = [data.draw(st.integers(0, int(window * 1000))) / 1000 for _ in visits]
    for sample in door_samples(visits, leads, NIGHT - timedelta(hours=3)):
        assert rule.on_sample(ENTRANCE_DEV, sample) == ()


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 120.0), door_visits, st.data())
def test_each_ungranted_night_opening_raises_once_and_clears_on_close(
    window: float, visits: list[tuple[float, float, bool]], data: st.DataObject
) -> None:
    """Test that door_forced raises exactly for night openings with no grant inside the window, then clears."""
    tz = ZoneInfo("Asia/Shanghai")
    params = DoorRule(grant_window_s=window)
    rule = NightEntrance(params, tz)
    drawn = [data.draw(st.one_of(st.none(), st.integers(0, int(3000 * window) + 1000))) for _ in visits]
    leads = [None if ms is None else ms / 1000 for ms in drawn]
    samples = door_samples(visits, leads, NIGHT - timedelta(hours=3))
    expected: list[tuple[EventState, datetime]] = []
    got: list[tuple[EventState, datetime]] = []
    grants: list[datetime] = []  # grants the rule has been fed so far
    was_open = False
    for sample in samples:
        verdicts = rule.on_sample(ENTRANCE_DEV, sample)
        assert all(v.kind is EventKind.DOOR_FORCED and v.device == ENTRANCE_DEV.id for v in verdicts)
        got += [(v.state, v.at) for v in verdicts]
        if sample.quantity is Quantity.ACCESS:
            grants.append(sample.at)
            continue
        opened = sample.value >= 0.5
        if opened and not was_open:
            granted = any(0.0 <= (sample.at - g).total_seconds() <= window for g in grants)
            if params.night_mode.contains(sample.at.astimezone(tz).time()) and not granted:
                expected.append((EventState.RAISED, sample.at))
        elif not opened and was_open and expected and expected[-1][0] is EventState.RAISED:
            expected.append((EventState.CLEARED, sample.at))
        was_open = opened
    assert got == expected
    assert not got or got[-1][0] is EventState.CLEARED
