"""The reliability table: each fault injected mid-stream into a compound run as real processes, beside a baseline.

For each row (``tests/faults/harness.py``, the same harness the fault suite's tests run): a real broker, ``compound
hub`` and one or two ``compound edge`` processes whose simulated smoke detectors each give one puff, at a steady
10 events/s per edge; the fault a quarter of the way in; then the events raised at the edges (their
sent-journals), stored at the hub (distinct ids), lost, duplicate alarms (beyond one per device and kind) and the
worst delay from an event's raise (its timestamp) to its alarm written at the hub (the alarm's raise entry). The
baseline (no fault) is measured first, in the same run.

Run: ``.venv/bin/python bench/faults.py [--rows ROW ...] [--json]`` (``--list`` names the rows; all by default:
a row took 16–61 s at load 4–15 on 2 cores, most of it starting the processes). Needs Mosquitto, PostgreSQL
and VictoriaMetrics (``make test`` installs them) and root for the disk-full row's tmpfs (skipped, with the
reason, without it).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.harness import ROWS, MountRefused, Result, run_row, scratch  # noqa: E402

COLUMNS = ("raised", "stored", "lost", "dup. alarms", "worst delay", "took")


def cells(result: Result) -> list[str]:
    delay = "—" if result.worst_delay_s is None else f"{result.worst_delay_s:.2f} s"
    return [str(result.raised), str(result.stored), str(result.lost), str(result.duplicate_alarms), delay,
            f"{result.seconds:.0f} s"]  # fmt: skip


def print_table(results: list[Result], skipped: dict[str, str]) -> None:
    width = max(len(r.title) for r in results) if results else 10
    print(f"{'row':<{width}}  " + "  ".join(f"{c:>11}" for c in COLUMNS))
    for result in results:
        print(f"{result.title:<{width}}  " + "  ".join(f"{c:>11}" for c in cells(result)))
    print()
    for result in results:
        extra = f"; readings received {result.readings['received']}, written {result.readings['written']}" if (
            result.readings) else ""  # fmt: skip
        print(f"- {result.title}: {result.note}{extra}")
    for key, why in skipped.items():
        print(f"- {ROWS[key].title}: skipped ({why})")
    print("worst delay: " + (results[0].delay_note if results else "alarm written at the hub − event time"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", metavar="ROW", help="rows to run after the baseline (default: all)")
    parser.add_argument("--list", action="store_true", help="name the rows and exit")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if args.list:
        for key, row in ROWS.items():
            print(f"{key:<18} {row.title}")
        return 0
    keys = args.rows or [k for k in ROWS if k != "baseline"]
    unknown = [k for k in keys if k not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; rows: {', '.join(ROWS)}")
    order = ["baseline", *(k for k in keys if k != "baseline")]
    results: list[Result] = []
    skipped: dict[str, str] = {}
    with scratch("bench-faults-") as folder:
        for key in order:
            print(f"running {key} ...", file=sys.stderr, flush=True)
            try:
                results.append(run_row(ROWS[key], folder / key))
            except MountRefused as exc:
                skipped[key] = str(exc)
    if args.json:
        report: dict[str, Any] = {
            "benchmark": "faults",
            "rows": [r.as_dict() for r in results],
            "skipped": skipped,
            "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_table(results, skipped)
    return 1 if any(r.lost or r.duplicate_alarms for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
