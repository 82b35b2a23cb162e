"""Cost of the edge's sent-journal: events/s stored (and acked) by the outbox with the journal off and on.

No broker: each round stores events with ``Outbox.put_sequenced_many`` (synchronous=FULL, as the agent does)
and acks them, ``--per-tx`` events per transaction (1: the fsync-bound worst case; 100: a busy tick).
Run: ``.venv/bin/python bench/edge_journal.py [--events 3000] [--rounds 2] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.outbox import Lane, Outbox  # noqa: E402

PAYLOAD = b"x" * 600  # about one event on the wire


def rate(journal_max_events: int, per_tx: int, events: int) -> float:
    """Events per second stored and acked."""
    with tempfile.TemporaryDirectory() as tmp:
        box = Outbox(Path(tmp) / "outbox.db", journal_max_events=journal_max_events)
        start = time.perf_counter()
        for _ in range(0, events, per_tx):
            box.put_sequenced_many([(lambda seq: ("t", PAYLOAD), {}) for _ in range(per_tx)])
            box.ack(e.id for e in box.pending(Lane.EVENT, limit=per_tx))
        elapsed = time.perf_counter() - start
        box.close()
    return events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for per_tx in (1, 100):
        for _ in range(args.rounds):
            off, on = rate(0, per_tx, args.events), rate(100_000, per_tx, args.events)
            rows.append({"per_tx": per_tx, "journal_off": round(off), "journal_on": round(on), "ratio": on / off})
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'events/tx':>9} {'journal off ev/s':>17} {'journal on ev/s':>16} {'on/off':>7}")
    for row in rows:
        print(f"{row['per_tx']:>9} {row['journal_off']:>17} {row['journal_on']:>16} {row['ratio']:>7.2f}")


if __name__ == "__main__":
    main()
