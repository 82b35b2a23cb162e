"""``compound sim list|run``: list scenarios, or run one alone (no MQTT, no rules) and show what devices report."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from compound.cli.options import add_config_option, positive_number
from compound.clock import ScaledClock
from compound.config import Compound, ConfigError, DoorRole, load_config
from compound.drivers import Quantity, Sample
from compound.recording import RecordingError, RecordingWriter

if TYPE_CHECKING:
    from simulators import Scenario


def register(sub: Any) -> None:
    """Add ``sim`` with its ``list`` and ``run`` subcommands."""
    parser = sub.add_parser(
        "sim",
        help="list or run device simulation scenarios (no MQTT, no rules)",
        description="Device simulators on simulated time. Scenarios are YAML timelines in configs/scenarios/.",
    )
    actions = parser.add_subparsers(dest="sim_command", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list", help="list the scenarios", description="List scenarios: name, duration, description."
    )
    listing.add_argument("--dir", type=Path, default=None, help="scenario folder (default: configs/scenarios/)")
    listing.set_defaults(func=run_list)

    running = actions.add_parser(
        "run",
        help="run one scenario and print what the devices report",
        description="Run a scenario through the simulated gateway(s) alone: no broker, no rules.\n"
        "Prints a progress line and a summary of notable devices (max smoke, max gas, door openings,\n"
        "silent devices, low batteries, frozen values), or every sample as a JSON line with --json.\n"
        "Runs as fast as possible unless --speed is given.",
        epilog="examples:\n  compound sim run kitchen-fire-night\n  compound sim run quiet-day --edge b1 --json "
        "| head\n  compound sim run door-forced-night --speed 60",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    running.add_argument("name", help="scenario name (see `compound sim list`) or path to a scenario YAML file")
    add_config_option(running)
    running.add_argument(
        "--edge",
        action="append",
        default=None,
        metavar="E",
        help="edge to simulate (repeatable; default: the edges the scenario touches, or all)",
    )
    running.add_argument("--seed", type=_seed, default=None, help="random seed (default: the scenario's seed)")
    pace = running.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed", type=positive_number, default=None, metavar="N", help="simulated seconds per real second (e.g. 60)"
    )
    pace.add_argument(
        "--as-fast-as-possible", action="store_true", help="no pacing, the default: run the whole timeline at once"
    )
    running.add_argument(
        "--duration", type=positive_number, default=None, help="simulated seconds (default: the scenario's)"
    )
    running.add_argument("--json", action="store_true", help="print every sample as a JSON line on stdout")
    running.add_argument(
        "--record",
        type=Path,
        metavar="OUT",
        help="also write every sample into OUT (MCAP, as `compound record`; replay it with `compound replay "
        "--into-edge` or `compound edge --driver recording --driver-option path=OUT`)",
    )
    running.set_defaults(func=run_scenario)


def _seed(value: str) -> int:
    """argparse type: a non-negative integer seed."""
    try:
        seed = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value!r}")
    return seed


def run_list(args: argparse.Namespace) -> int:
    """Print the scenario table."""
    from simulators import list_scenarios

    try:
        scenarios = list_scenarios(args.dir)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not scenarios:
        print("no scenarios found")
        return 0
    width = max(len(s.name) for s in scenarios)
    print(f"{'NAME':<{width}}  {'DURATION':>9}  DESCRIPTION")
    for scenario in scenarios:
        print(f"{scenario.name:<{width}}  {_hms(scenario.duration_s):>9}  {scenario.description}")
    return 0


@dataclass(slots=True)
class DeviceSummary:
    """Notable values of one device over a run."""

    quantity: Quantity
    samples: int = 0
    grants: int = 0
    max_value: float = 0.0
    openings: int = 0
    min_battery: float | None = None
    last_at: datetime | None = None
    longest_gap_s: float = 0.0
    last_value: float | None = None
    same_since: datetime | None = None
    longest_same_s: float = 0.0

    def add(self, sample: Sample) -> None:
        """Fold one sample in."""
        self.samples += 1
        if self.last_at is not None:
            self.longest_gap_s = max(self.longest_gap_s, (sample.at - self.last_at).total_seconds())
        self.last_at = sample.at
        if not sample.quantity.periodic:  # an access grant at a door's reader, not the door's state
            self.grants += 1
            return
        self.max_value = max(self.max_value, sample.value)
        if sample.quantity is Quantity.DOOR and sample.value == 1.0 and self.last_value != 1.0:
            self.openings += 1
        if sample.battery is not None:
            self.min_battery = sample.battery if self.min_battery is None else min(self.min_battery, sample.battery)
        if sample.value != self.last_value or self.same_since is None:
            self.last_value, self.same_since = sample.value, sample.at
        self.longest_same_s = max(self.longest_same_s, (sample.at - self.same_since).total_seconds())


def run_scenario(args: argparse.Namespace) -> int:
    """Run a scenario through the gateways of its edges; print samples or a summary."""
    from simulators import SimulatedGateway, check_scenario, load_scenario

    try:
        compound = load_config(args.config)
        scenario = load_scenario(args.name)
        check_scenario(scenario, compound)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    edges = args.edge or _edges_of(scenario, compound) or compound.edges()
    unknown = [e for e in edges if e not in compound.edges()]
    if unknown:
        print(f"error: unknown edge(s) {', '.join(unknown)}; edges: {', '.join(compound.edges())}", file=sys.stderr)
        return 2
    duration = args.duration if args.duration is not None else scenario.duration_s
    gateways = [SimulatedGateway(compound, e, scenario=scenario, seed=args.seed) for e in edges]
    seed = gateways[0].seed
    recorder: RecordingWriter | None = None
    if args.record is not None:
        try:
            recorder = RecordingWriter(
                args.record, source=f"sim {scenario.name} seed {seed}", metadata={"scenario": scenario.name}
            )
        except RecordingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    out: TextIO = sys.stdout
    progress: TextIO = sys.stderr if args.json else sys.stdout
    summaries: dict[str, DeviceSummary] = {}
    for gateway in gateways:
        for device_id in gateway.devices():
            quantity = {"smoke_detector": Quantity.SMOKE, "gas_detector": Quantity.GAS}.get(
                compound.devices[device_id].type.value, Quantity.DOOR
            )
            summaries[device_id] = DeviceSummary(quantity)
    end = scenario.start + timedelta(seconds=duration)
    print(
        f"scenario {scenario.name}: {_hms(duration)} simulated from {scenario.start.isoformat()}, "
        f"edges {', '.join(edges)}, {len(summaries)} devices, seed {seed}, "
        + (f"speed {args.speed:g}x" if args.speed else "as fast as possible"),
        file=progress,
    )
    real_start = time.perf_counter()
    total = 0
    clock = ScaledClock(scenario.start, args.speed) if args.speed else None
    now = scenario.start
    last_progress = 0.0
    tty = progress.isatty()
    try:
        while now < end:
            if clock is not None:
                time.sleep(0.2)
                now = min(clock.now(), end)
            else:
                now = min(now + timedelta(seconds=60), end)
            polled = sorted(((e, s) for e, g in zip(edges, gateways, strict=True) for s in g.poll(now)),
                            key=lambda es: es[1].at)  # fmt: skip
            batch = [s for _, s in polled]
            total += len(batch)
            for edge_id, sample in polled:
                summaries[sample.device].add(sample)
                if recorder is not None:
                    recorder.sample(edge_id, sample)
            if args.json:
                _print_json(batch, out)
            if tty and (time.perf_counter() - last_progress >= 0.5 or now >= end):
                last_progress = time.perf_counter()
                done = (now - scenario.start).total_seconds()
                local = now.astimezone(compound.tz)
                line = f"  sim {_hms(done)} / {_hms(duration)}  local {local:%H:%M:%S}  samples {total}"
                print("\r" + line, end="", file=progress, flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted", file=progress)
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    finally:
        for gateway in gateways:
            gateway.close()
        if recorder is not None:
            recorder.close()
            print(f"  recorded {recorder.messages} samples into {args.record}", file=progress)
    elapsed = time.perf_counter() - real_start
    print(
        ("\n" if tty else "")
        + f"  done: {total} samples in {elapsed:.2f} s real ({total / max(elapsed, 1e-9):,.0f} samples/s, "
        f"{(now - scenario.start).total_seconds() / max(elapsed, 1e-9):,.0f}x real time)",
        file=progress,
    )
    if not args.json:
        _print_summary(summaries, compound, now, duration, out)
    return 0


def _edges_of(scenario: Scenario, compound: Compound) -> list[str]:
    """Edges whose devices or flats the scenario's steps name, in config order."""
    touched: set[str] = set()
    for step in scenario.timeline:
        if step.device is not None and step.device in compound.devices:
            touched.add(compound.devices[step.device].edge)
        if step.flat is not None:
            building = step.flat.split("/")[0]
            for b in compound.buildings:
                if b.id == building:
                    touched.add(b.edge_id)
    return [e for e in compound.edges() if e in touched]


def _print_json(samples: Iterable[Sample], out: TextIO) -> None:
    for s in samples:
        record = {"device": s.device, "quantity": s.quantity.value, "value": s.value, "at": s.at.isoformat()}
        if s.battery is not None:
            record["battery"] = s.battery
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _print_summary(
    summaries: dict[str, DeviceSummary], compound: Compound, end: datetime, duration: float, out: TextIO
) -> None:
    offline_after_s = compound.rules.fault.offline_after_s
    rows: list[tuple[str, str]] = []
    by_quantity = {q: [(d, s) for d, s in summaries.items() if s.quantity is q] for q in Quantity}
    for device_id, summary in sorted(by_quantity[Quantity.SMOKE], key=lambda x: -x[1].max_value)[:3]:
        rows.append((device_id, f"max smoke {summary.max_value:.3f} dB/m ({summary.samples} samples)"))
    for device_id, summary in sorted(by_quantity[Quantity.GAS], key=lambda x: -x[1].max_value)[:3]:
        rows.append((device_id, f"max gas {summary.max_value:.1f} %LEL ({summary.samples} samples)"))
    fire_doors: list[tuple[str, DeviceSummary]] = []
    for device_id, summary in by_quantity[Quantity.DOOR]:
        if compound.devices[device_id].door_role is DoorRole.FIRE_DOOR:
            fire_doors.append((device_id, summary))
        elif summary.openings:
            granted = f" ({summary.grants} access grants)" if summary.grants else ""
            rows.append((device_id, f"{summary.openings} door openings{granted}"))
    if any(s.openings for _, s in fire_doors):
        busiest = sorted(fire_doors, key=lambda x: -x[1].openings)[:3]
        total = sum(s.openings for _, s in fire_doors)
        top = ", ".join(f"{d} {s.openings}" for d, s in busiest)
        rows.append((f"{len(fire_doors)} fire doors", f"{total} openings (most: {top})"))
    for device_id, summary in summaries.items():
        gap = max(summary.longest_gap_s, (end - summary.last_at).total_seconds() if summary.last_at else duration)
        if summary.samples == 0 and duration > offline_after_s:
            rows.append((device_id, "silent: no samples at all"))
        elif summary.samples and gap > offline_after_s:
            rows.append((device_id, f"silent for {_hms(gap)} (longest gap)"))
        if summary.min_battery is not None and summary.min_battery < 25:
            rows.append((device_id, f"battery down to {summary.min_battery:g} %"))
        if summary.quantity is not Quantity.DOOR and summary.longest_same_s >= 3600:
            rows.append((device_id, f"same value {summary.last_value} for {_hms(summary.longest_same_s)}"))
    print("notable devices:", file=out)
    width = max((len(d) for d, _ in rows), default=0)
    for device_id, text in _dedupe(rows):
        print(f"  {device_id:<{width}}  {text}", file=out)


def _dedupe(rows: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(rows))


def _hms(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
