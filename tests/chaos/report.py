"""Reading a chaos run's outcome from the chaos database, and recording its figures.

Each run appends one JSON line to ``var/chaos/results.jsonl`` (docs/reliability.md quotes
them) and prints a small table.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.chaos.harness import LOG_DIR, Stack

RESULTS = LOG_DIR / "results.jsonl"


def inbound_outcome(stack: Stack, expected: int) -> dict:
    """Per unique marker: stored how many times, and whether its conversation is in a queue."""
    rows = stack.sql(
        r"""
        SELECT (regexp_match(m.text, '\[chaos (\d+)\]'))[1]::int AS n, count(*),
               bool_and(c.team_id IS NOT NULL AND c.routed_at IS NOT NULL
                        AND c.status IN ('new', 'open', 'pending', 'snoozed'))
        FROM inbox_message m JOIN inbox_conversation c ON c.id = m.conversation_id
        WHERE m.direction = 'in' AND m.text ~ '\[chaos \d+\]'
        GROUP BY 1
        """
    )
    stored = {n: count for n, count, _ in rows}
    unrouted = sorted(n for n, _, queued in rows if not queued)
    raw_total, raw_pending, raw_errors, raw_given_up = stack.sql(
        """
        SELECT count(*), count(*) FILTER (WHERE processed_at IS NULL),
               count(*) FILTER (WHERE error <> ''),
               count(*) FILTER (WHERE processed_at IS NOT NULL AND error <> '')
        FROM inbox_rawevent
        """
    )[0]
    lost = sorted(set(range(1, expected + 1)) - set(stored))
    return {
        "unique": expected,
        "stored": len(stored),
        "stored_twice_or_more": sum(1 for c in stored.values() if c > 1),
        "lost": len(lost),
        "lost_examples": lost[:10],
        "unrouted": len(unrouted),
        "unrouted_examples": unrouted[:10],
        "raw_events": raw_total,
        "raw_events_pending": raw_pending,
        "raw_events_with_error": raw_errors,
        "raw_events_given_up": raw_given_up,
        "conversations": stack.scalar("SELECT count(*) FROM inbox_conversation"),
    }


def raw_errors(stack: Stack, limit: int = 5) -> list[tuple]:
    return stack.sql("SELECT id, attempts, left(error, 300) FROM inbox_rawevent WHERE error <> '' "
                     "ORDER BY id LIMIT %s", [limit])


def record(scenario: str, scale: str, figures: dict) -> dict:
    line = {
        "scenario": scenario, "scale": scale, "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_1m": round(os.getloadavg()[0], 2)},
        **figures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with Path(RESULTS).open("a") as f:
        f.write(json.dumps(line, default=str) + "\n")
    width = max(len(k) for k in line)
    print(f"\n{scenario} ({scale})")
    for key, value in line.items():
        if key not in ("scenario", "scale"):
            print(f"  {key.ljust(width)}  {value}")
    return line


class Clock:
    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.t0, 1)
