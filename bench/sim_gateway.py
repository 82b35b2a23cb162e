"""Cost of polling the simulated gateway: can one edge's ~400-700 devices run faster than real time?

Polls ``SimulatedGateway`` the way an edge agent on a ``ScaledClock`` would (every ``--tick`` real
seconds at ``--speed`` simulated seconds per real second, i.e. ``tick * speed`` simulated seconds per
poll), but back to back, timing each poll's CPU cost. Optionally starts ``--load`` busy processes to
mimic a loaded 2-core box. Prints samples/s, poll cost (median, p99, max), the share of the tick
budget one poll uses, and the largest speed this edge could sustain; ``--json`` for machines.

    .venv/bin/python bench/sim_gateway.py [--edge b2] [--scenario quiet-day] [--speed 60] [--tick 0.5]
                                          [--sim-seconds 21600] [--load 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compound.config import load_config  # noqa: E402
from simulators import SimulatedGateway, load_scenario  # noqa: E402


def _burn(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def measure(
    edge: str, scenario_name: str, speed: float, tick: float, sim_seconds: float, offset: float
) -> dict[str, Any]:
    """Poll one edge's gateway for ``sim_seconds`` in steps of ``tick * speed``; return the figures."""
    compound = load_config(ROOT / "configs")
    scenario = load_scenario(scenario_name)
    gateway = SimulatedGateway(compound, edge, scenario=scenario)
    step = tick * speed
    now = scenario.start
    gateway.poll(now)
    if offset:
        gateway.poll(now + timedelta(seconds=offset))  # skip to a busy part of the day
    t = offset
    costs: list[float] = []
    samples = 0
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    while t < offset + sim_seconds:
        t += step
        c0 = time.perf_counter()
        samples += len(gateway.poll(scenario.start + timedelta(seconds=t)))
        costs.append(time.perf_counter() - c0)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    costs.sort()
    return {
        "edge": edge,
        "devices": len(gateway.devices()),
        "scenario": scenario_name,
        "speed": speed,
        "tick_s": tick,
        "sim_seconds": sim_seconds,
        "polls": len(costs),
        "samples": samples,
        "samples_per_sim_s": samples / sim_seconds,
        "samples_per_s_at_speed": samples / sim_seconds * speed,
        "samples_per_cpu_s": samples / cpu if cpu else None,
        "poll_ms_median": statistics.median(costs) * 1000,
        "poll_ms_p99": costs[int(0.99 * (len(costs) - 1))] * 1000,
        "poll_ms_max": costs[-1] * 1000,
        "tick_budget_used": statistics.mean(costs) / tick,
        "max_speed": sim_seconds / wall,
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edge", action="append", help="edge(s) to measure (default: b2 and b4)")
    parser.add_argument("--scenario", default="quiet-day", help="scenario (default quiet-day: routines all day)")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (60)")
    parser.add_argument("--tick", type=float, default=0.5, help="real seconds between polls of the edge (0.5)")
    parser.add_argument("--sim-seconds", type=float, default=6 * 3600, help="simulated span measured (6 h)")
    parser.add_argument("--offset", type=float, default=6 * 3600, help="start this far into the scenario (06:00)")
    parser.add_argument("--load", type=int, default=0, help="busy-loop processes to run meanwhile (e.g. 2)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    burners: list[multiprocessing.Process] = []
    if args.load:
        stop_at = time.time() + 600
        burners = [multiprocessing.Process(target=_burn, args=(stop_at,), daemon=True) for _ in range(args.load)]
        for p in burners:
            p.start()
    try:
        results = [
            measure(e, args.scenario, args.speed, args.tick, args.sim_seconds, args.offset)
            for e in (args.edge or ["b2", "b4"])
        ]
    finally:
        for p in burners:
            p.terminate()
            p.join(timeout=5)
    if args.json:
        print(json.dumps({"load_processes": args.load, "results": results}, indent=2))
        return
    print(
        f"simulated gateway, scenario {args.scenario}, speed {args.speed:g}x, poll every {args.tick:g} s real, "
        f"{args.load} busy processes alongside"
    )
    for r in results:
        print(
            f"  edge {r['edge']:<3} {r['devices']:4d} devices: {r['samples_per_s_at_speed']:8.0f} samples/s at speed, "
            f"poll median {r['poll_ms_median']:.2f} ms p99 {r['poll_ms_p99']:.2f} ms max {r['poll_ms_max']:.2f} ms "
            f"({r['tick_budget_used']:.1%} of the tick), {r['samples_per_cpu_s']:,.0f} samples/CPU-s, "
            f"sustains up to {r['max_speed']:,.0f}x real time"
        )


if __name__ == "__main__":
    main()
