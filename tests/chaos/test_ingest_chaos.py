"""Nothing lost, ever (inbound): signed webhooks in three platforms' shapes, redelivered and
shuffled, while Celery workers are SIGKILLed and Redis and PostgreSQL restart.

The short runs are part of ``make test``; ``make test-chaos`` runs the full ones
(20,000 deliveries). Figures go to var/chaos/results.jsonl; docs/reliability.md quotes them.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.chaos import deliveries
from tests.chaos.harness import Killer, Sender, Stack, wait_until
from tests.chaos.report import Clock, inbound_outcome, raw_errors, record

pytestmark = pytest.mark.chaos


def drain(stack: Stack, *, timeout: float, stall: float = 6.0) -> dict:
    """Wait for every RawEvent to be processed; when the backlog stops moving (a wakeup died
    with a killed worker, or a queue was lost with Redis), run the raw-event sweep as the
    beat would. Bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    last, last_change, sweeps = None, time.monotonic(), 0
    while time.monotonic() < deadline:
        for proc in stack.workers():
            if not proc.alive():
                stack.start_worker(proc.name)
        pending = stack.scalar("SELECT count(*) FROM inbox_rawevent WHERE processed_at IS NULL")
        if pending == 0:
            return {"sweeps": sweeps, "pending": 0}
        if pending != last:
            last, last_change = pending, time.monotonic()
        elif time.monotonic() - last_change > stall:
            stack.control("raw_events_sweep")
            sweeps += 1
            last_change = time.monotonic()
        time.sleep(0.5)
    return {"sweeps": sweeps, "pending": last}


def _assert_nothing_lost(outcome: dict, sent, stack: Stack) -> None:
    detail = f"{outcome}\nraw errors: {raw_errors(stack)}\n{stack.logs()}"
    assert sent.given_up == 0, f"the sender gave up on {sent.given_up} deliveries\n{detail}"
    assert outcome["lost"] == 0, f"lost messages\n{detail}"
    assert outcome["stored"] == outcome["unique"], detail
    assert outcome["stored_twice_or_more"] == 0, f"stored twice\n{detail}"
    assert outcome["unrouted"] == 0, f"not in a team queue\n{detail}"
    assert outcome["raw_events_pending"] == 0, detail


KILL_SCALES = [
    pytest.param({"scale": "short", "deliveries": 1000, "shares": (0.5, 0.4, 0.1), "drain_timeout": 150}, marks=pytest.mark.chaos_short, id="short"),
    pytest.param({"scale": "full", "deliveries": 20000, "shares": (0.45, 0.4, 0.15), "drain_timeout": 1800}, marks=pytest.mark.chaos_full, id="full"),
]


@pytest.mark.parametrize("cfg", KILL_SCALES)
def test_redelivered_shuffled_webhooks_survive_worker_kills_stored_once_and_routed(stack, cfg):
    plan = deliveries.plan(cfg["deliveries"], shares=cfg["shares"])
    clock = Clock()
    for name in ("worker-1", "worker-2"):
        stack.start_worker(name)
    killer = Killer(stack, every=(2.0, 4.0))
    killer.start()
    try:
        sent = Sender(stack.web_port, threads=6).run(plan.deliveries)
        clock.mark("posting_s")
        # Keep killing while the backlog drains.
        time.sleep(4 if cfg["scale"] == "short" else 30)
    finally:
        killer.stop()
    clock.mark("killing_s")
    drained = drain(stack, timeout=cfg["drain_timeout"])
    clock.mark("all_processed_s")
    outcome = inbound_outcome(stack, plan.unique_messages)
    record("worker kills", cfg["scale"], {
        "deliveries": len(plan.deliveries), "unique_deliveries": plan.unique_deliveries,
        "duplicate_deliveries": plan.duplicates, "by_platform": plan.by_platform,
        "http_answers": sent.statuses, "sender_gave_up": sent.given_up,
        "worker_kills": len(killer.kills),
        "kills_by_kind": {k: sum(1 for *_, how in killer.kills if how == k) for k in ("group", "child")},
        "sweeps": drained["sweeps"], **outcome, "durations_s": clock.marks,
    })
    _assert_nothing_lost(outcome, sent, stack)


OUTAGE_SCALES = [
    pytest.param({"scale": "short", "deliveries": 600, "redis_down": 2.0, "pg_down": 4.0, "drain_timeout": 150},
                 marks=pytest.mark.chaos_short, id="short"),
    pytest.param({"scale": "full", "deliveries": 6000, "redis_down": 5.0, "pg_down": 15.0, "drain_timeout": 600},
                 marks=pytest.mark.chaos_full, id="full"),
]


@pytest.mark.parametrize("cfg", OUTAGE_SCALES)
def test_redis_then_postgres_restart_mid_run_loses_nothing_and_5xx_only_while_the_database_is_down(stack, cfg):
    # Meta's big batches would make this run long without telling more: mostly single events.
    plan = deliveries.plan(cfg["deliveries"], shares=(0.45, 0.45, 0.10), seed=77)
    total = len(plan.deliveries)
    clock = Clock()
    for name in ("worker-1", "worker-2"):
        stack.start_worker(name)
    windows: dict[str, list[float]] = {}
    marks: dict[str, int] = {}
    triggers = {"redis": threading.Event(), "postgres": threading.Event()}

    def progress(done: int) -> None:
        if done >= total * 0.25:
            triggers["redis"].set()
        if done >= total * 0.55:
            triggers["postgres"].set()

    def outages() -> None:
        if not triggers["redis"].wait(120):
            return
        windows["redis"] = [time.monotonic()]
        stack.redis.stop()
        time.sleep(cfg["redis_down"])
        stack.redis.start()
        windows["redis"].append(time.monotonic())
        time.sleep(3)  # two outages, not one long one
        if not triggers["postgres"].wait(120):
            return
        # The harder case for the workers: idle, each holding its (reused) connection when
        # PostgreSQL crashes. The platforms pause until then, and keep sending through the outage.
        sender.gate.clear()
        wait_until(lambda: stack.scalar("SELECT count(*) FROM inbox_rawevent WHERE processed_at IS NULL") == 0, 60)
        time.sleep(1)
        windows["postgres"] = [time.monotonic()]
        stack.pg.stop("immediate")  # a crash: recovery replays the WAL at the next start
        sender.gate.set()
        time.sleep(cfg["pg_down"])
        stack.pg.start()
        windows["postgres"].append(time.monotonic())
        # What a worker logs from here on is after the recovery (tasks in flight have failed).
        time.sleep(5)
        marks.update({p.name: p.log.stat().st_size for p in stack.workers()})

    # A sender that keeps going through the outages, with bounded retries per delivery.
    sender = Sender(stack.web_port, threads=4, max_tries=60, max_seconds=90)
    chaos = threading.Thread(target=outages, daemon=True)
    chaos.start()
    sent = sender.run(plan.deliveries, on_progress=progress)
    chaos.join(timeout=120)
    clock.mark("posting_s")
    assert set(windows) == {"redis", "postgres"}, f"the outages did not both happen: {windows}"
    exits = [p.name for p in stack.workers() if not p.alive()]  # before drain() restarts them
    drained = drain(stack, timeout=cfg["drain_timeout"])
    clock.mark("all_processed_s")
    outcome = inbound_outcome(stack, plan.unique_messages)
    failing_after_recovery = {
        name: [line for line in stack.log_since(name, offset) if "raised unexpected" in line]
        for name, offset in marks.items()
    }

    pg_down, pg_up = windows["postgres"]
    redis_down, redis_up = windows["redis"]
    grace = 2.0  # a request already past its database call when PostgreSQL went away
    outside = [(round(t - pg_down, 2), s) for t, s in sent.errors if not pg_down <= t <= pg_up + grace]
    during_redis = [(round(t - redis_down, 2), s) for t, s in sent.errors
                    if redis_down <= t <= redis_up + grace and not pg_down <= t <= pg_up + grace]
    record("redis and postgres restarts", cfg["scale"], {
        "deliveries": total, "unique_deliveries": plan.unique_deliveries, "duplicate_deliveries": plan.duplicates,
        "http_answers": sent.statuses, "sender_attempts": sent.attempts, "sender_gave_up": sent.given_up,
        "redis_down_s": round(redis_up - redis_down, 1), "postgres_down_s": round(pg_up - pg_down, 1),
        "errors_while_postgres_down": len(sent.errors) - len(outside),
        "errors_outside_postgres_outage": len(outside), "errors_during_redis_outage": len(during_redis),
        "workers_exited": exits, "worker_task_errors_after_recovery":
            {name: len(lines) for name, lines in failing_after_recovery.items()},
        "sweeps": drained["sweeps"], **outcome, "durations_s": clock.marks,
    })
    assert not any(failing_after_recovery.values()), (
        f"a worker still fails its tasks after PostgreSQL is back: "
        f"{ {n: lines[:3] for n, lines in failing_after_recovery.items()} }"
    )
    assert not during_redis, f"the webhook failed while Redis was down: {during_redis[:10]}\n{stack.logs()}"
    assert not outside, f"5xx or errors outside the PostgreSQL outage: {outside[:10]}\n{stack.logs()}"
    _assert_nothing_lost(outcome, sent, stack)
