"""Ingest benchmark: signed simulator webhooks over HTTP to a conversation in a team queue.

Runs the production path end to end on this machine: a web server (the one the docker
image uses), ONE Celery worker, PostgreSQL and Redis. Two measurements:

* throughput: N single-event webhooks posted as fast as several client threads can,
  messages/s = N / (first post -> last message stored and its conversation routed);
* latency at a fixed rate (default 100 messages/s for 30 s), every message opening a new
  conversation: per message, RawEvent.received_at -> Conversation.routed_at, read from the
  database after the run; p50/p95/p99.

Usage (see `make bench`; DATABASE_URL and REDIS_URL default to the bench database/db 5):

    .venv/bin/python bench/ingest.py [--messages 5000] [--rate 100] [--duration 30]

The bench database is emptied of conversations, messages and raw events first. Figures
are printed and written to bench/results/ingest-<time>.json. Budget (issue): at least
500 messages/s sustained; p99 under 2 s at 100 messages/s. The script never fails on a
time; it reports.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RESULTS,
    Processes,
    apply_environ,
    database_ensure,
    django_setup,
    manage,
    percentile,
    results_write,
    table,
)

ACCOUNT_ID = "bench-sim"
GUNICORN_CONFIG = Path(__file__).resolve().parent.parent / "docker" / "gunicorn.conf.py"
OFFICERS = 5


# --- Command line ----------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    cores = os.cpu_count() or 2
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=5000, help="webhooks in the throughput run")
    p.add_argument("--clients", type=int, default=8, help="client threads in the throughput run")
    p.add_argument("--events-per-webhook", type=int, default=1,
                   help="messages per webhook body in the throughput run (Meta batches up to 1,000)")
    p.add_argument("--rate", type=float, default=100.0, help="messages/s in the latency run")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of the latency run")
    p.add_argument("--server", choices=["gunicorn", "uvicorn", "daphne"], default="gunicorn",
                   help="gunicorn serves config.wsgi as the docker image's web service does; "
                        "uvicorn and daphne serve config.asgi (for comparison)")
    p.add_argument("--web-workers", type=int, default=cores, help="web server processes")
    p.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker")
    p.add_argument("--concurrency", type=int, default=cores, help="Celery worker processes")
    p.add_argument("--prefetch", type=int, default=4, help="Celery prefetch multiplier")
    p.add_argument("--celery-app", default="config",
                   help="Celery app module (-A); another module can patch the pipeline to try a fix")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--skip", choices=["throughput", "latency"], action="append", default=[])
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for processing")
    return p.parse_args()


def server_argv(args) -> list[str]:
    py = sys.executable
    bind = ["127.0.0.1", str(args.port)]
    if args.server == "uvicorn":
        return [py, "-m", "uvicorn", "config.asgi:application", "--host", bind[0], "--port", bind[1],
                "--workers", str(args.web_workers), "--lifespan", "off", "--no-access-log",
                "--log-level", "warning"]
    if args.server == "daphne":
        return [py, "-m", "daphne", "-b", bind[0], "-p", bind[1], "-v", "0", "config.asgi:application"]
    return [py, "-m", "gunicorn", "config.wsgi:application", "--bind", ":".join(bind),
            "--workers", str(args.web_workers), "--threads", str(args.web_threads),
            "--worker-class", "gthread", "--log-level", "warning", "--config", str(GUNICORN_CONFIG)]


def worker_argv(args) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", args.celery_app, "worker", "-Q", "ingest,outbound,default",
            "--concurrency", str(args.concurrency), "--prefetch-multiplier", str(args.prefetch),
            "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]


# --- Setup -----------------------------------------------------------------------------------


def data_reset() -> None:
    """Empty what a run fills, so every run starts from the same tables."""
    from django.db import connection

    from inbox import models as m

    tables = [
        m.DeliveryAttempt, m.MessageRevision, m.Message, m.Conversation.tags.through, m.Conversation,
        m.RawEvent, m.Contact, m.Person, m.AuditEvent,
    ]
    names = ", ".join(connection.ops.quote_name(t._meta.db_table) for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


def fixtures_ensure():
    from django.contrib.auth import get_user_model

    from inbox.models import ChannelAccount, Team
    from inbox.permissions import OFFICER, team_member_add

    team, _ = Team.objects.get_or_create(
        slug="bench-ingest", defaults={"name": "Bench ingest", "assignment": Team.Assignment.ROUND_ROBIN}
    )
    user_model = get_user_model()
    for n in range(1, OFFICERS + 1):
        user, created = user_model.objects.get_or_create(username=f"bench-officer-{n}")
        if created:
            user.set_unusable_password()
            user.save()
        team_member_add(team, user, OFFICER)
    account, _ = ChannelAccount.objects.update_or_create(
        platform="simulator", external_id=ACCOUNT_ID,
        defaults={"name": "Bench (simulated)", "handle": "bench", "default_team": team},
    )
    return team, account


def redis_flush(url: str) -> None:
    """The bench's own Redis database: stale tasks from an interrupted run would skew it."""
    import redis

    redis.Redis.from_url(url).flushdb()


def wait_healthy(port: int, procs: Processes, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"web server not healthy on port {port} after {timeout:.0f}s")


# --- CPU accounting (evidence for where the time goes) ---------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_by_process(database: str) -> dict[int, tuple[str, int, float]]:
    """pid -> (label, process group, CPU seconds) for every process we can read."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        if name.startswith("postgres"):
            # A backend's title names its database; other helpers' databases are not ours.
            name = "postgres (bench db)" if f" {database} " in title else "postgres (other)"
        rest = raw[raw.rindex(")") + 2 :].split()
        # Fields after the name: state ppid pgrp ... utime stime cutime cstime. The children's
        # times count the short-lived processes already reaped (PostgreSQL backends).
        ticks = sum(int(v) for v in rest[11:15])
        out[int(entry.name)] = (name, int(rest[2]), ticks / _TICK)
    return out


@dataclass
class CpuMeter:
    """CPU seconds per component over a run, from /proc.

    PostgreSQL backends of the bench database are counted by their process title; backends
    that exited during the run (and the postmaster's reaped children) land in "other", as
    do other databases' backends on a shared server.
    """

    groups: dict[str, int]  # label -> process group id of a subprocess we started
    database: str
    start: dict[int, tuple[str, int, float]] = field(default_factory=dict)
    t0: float = 0.0

    def begin(self) -> None:
        self.start = _cpu_by_process(self.database)
        self.t0 = time.monotonic()

    def end(self) -> dict[str, float]:
        now = _cpu_by_process(self.database)
        wall = time.monotonic() - self.t0
        used: dict[str, float] = dict.fromkeys(self.groups, 0.0)
        used.update({"postgres (bench db)": 0.0, "postgres (other)": 0.0, "redis": 0.0})
        me = os.getpid()
        for pid, (name, pgrp, cpu) in now.items():
            delta = cpu - self.start.get(pid, (name, pgrp, 0.0))[2]
            label = next((k for k, g in self.groups.items() if g == pgrp), None)
            if label is None and pid == me:
                label = "bench client"
            elif label is None and name.startswith("postgres"):
                label = name
            elif label is None and name.startswith("redis"):
                label = "redis"
            if label:
                used[label] = used.get(label, 0.0) + delta
        return {"wall_s": round(wall, 2), **{k: round(v, 2) for k, v in used.items()}}


# --- Posting ---------------------------------------------------------------------------------


@dataclass
class Posted:
    seconds: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, status: int | str) -> None:
        with self.lock:
            if status == 200:
                self.seconds.append(seconds)
            else:
                self.errors[str(status)] = self.errors.get(str(status), 0) + 1


class Poster:
    """One keep-alive HTTP/1.1 connection per client thread (as a platform's sender has)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> int | str:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request("POST", "/webhooks/simulator/", body=body, headers=headers)
                response = self.conn.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException) as exc:
                self.conn.close()
                self.conn = None
                if attempt:
                    return type(exc).__name__
        return "unreachable"


def new_conversation_event(feed) -> dict:
    """A first message of a new thread: the feed keeps no threads, so it cannot follow up."""
    feed.threads.clear()
    return feed.event()


def throughput_run(args, feed, stop: threading.Event) -> tuple[datetime, Posted]:
    per = max(1, args.events_per_webhook)
    payloads = [
        feed.payload(ACCOUNT_ID, [feed.event() for _ in range(min(per, args.messages - start))])
        for start in range(0, args.messages, per)
    ]
    posted = Posted()
    counter = itertools.count()
    barrier = threading.Barrier(args.clients + 1)

    def client() -> None:
        poster = Poster(args.port)
        barrier.wait()
        while not stop.is_set():
            i = next(counter)
            if i >= len(payloads):
                return
            t = time.perf_counter()
            status = poster.post(*payloads[i])
            posted.add(time.perf_counter() - t, status)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(args.clients)]
    for t in threads:
        t.start()
    started = datetime.now(UTC)
    barrier.wait()
    for t in threads:
        t.join()
    return started, posted


def rate_run(args, feed, stop: threading.Event) -> tuple[datetime, float, Posted]:
    total = int(args.rate * args.duration)
    posted = Posted()
    clients = max(8, int(args.rate // 10))
    t0 = time.perf_counter() + 0.2
    started = datetime.now(UTC) + timedelta(seconds=0.2)
    lock = threading.Lock()

    def client(k: int) -> None:
        poster = Poster(args.port)
        for i in range(k, total, clients):
            if stop.is_set():
                return
            delay = t0 + i / args.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            with lock:  # the feed is not thread-safe
                body, headers = feed.payload(ACCOUNT_ID, [new_conversation_event(feed)])
            t = time.perf_counter()
            status = poster.post(body, headers)
            posted.add(time.perf_counter() - t, status)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return started, time.perf_counter() - t0, posted


# --- Reading the outcome from the database ---------------------------------------------------


def wait_processed(after_id: int, expected: int, timeout: float, procs: Processes, stop: threading.Event) -> dict:
    """Wait until every RawEvent since ``after_id`` is processed and its conversation routed."""
    from django.db.models import Max

    from inbox.models import Conversation, RawEvent

    deadline = time.monotonic() + timeout
    events = RawEvent.objects.filter(id__gt=after_id)
    conversations = Conversation.objects.filter(messages__raw_event_id__gt=after_id)
    while True:
        procs.check_alive()
        received = events.count()
        pending = events.filter(processed_at__isnull=True).count()
        unrouted = conversations.filter(routed_at__isnull=True).count()
        if received >= expected and pending == 0 and unrouted == 0:
            break
        if time.monotonic() > deadline or stop.is_set():
            raise RuntimeError(
                f"gave up waiting: {received}/{expected} received, {pending} unprocessed, {unrouted} unrouted"
            )
        time.sleep(0.2)
    last_processed = events.aggregate(at=Max("processed_at"))["at"]
    last_routed = conversations.aggregate(at=Max("routed_at"))["at"]
    return {
        "raw_events": received,
        "errors": events.exclude(error="").count(),
        "last_done": max(t for t in (last_processed, last_routed) if t is not None),
    }


def latencies(after_id: int) -> dict[str, list[float]]:
    """Per new conversation: receipt -> processed (stored), receipt -> routed (in a team queue)."""
    from django.db.models import F

    from inbox.models import Message

    rows = (
        Message.objects.filter(raw_event_id__gt=after_id, direction=Message.Direction.INBOUND)
        .annotate(
            received=F("raw_event__received_at"), processed=F("raw_event__processed_at"),
            routed=F("conversation__routed_at"), thread_key=F("conversation__thread_key"),
        )
        .values_list("external_id", "thread_key", "received", "processed", "routed")
    )
    stored, routed = [], []
    for external_id, thread_key, received, processed, routed_at in rows:
        if not thread_key.endswith(f":{external_id}"):
            continue  # a follow-up in an existing conversation: not a new routing
        stored.append((processed - received).total_seconds())
        routed.append((routed_at - received).total_seconds())
    return {"stored": stored, "routed": routed}


def max_raw_event_id() -> int:
    from django.db.models import Max

    from inbox.models import RawEvent

    return RawEvent.objects.aggregate(m=Max("id"))["m"] or 0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def summary(values: list[float]) -> dict[str, float]:
    return {f"p{p}": round(percentile(values, p), 4) for p in (50, 95, 99)} | {
        "max": round(max(values), 4) if values else float("nan"), "count": len(values)
    }


# --- Main --------------------------------------------------------------------------------------


def main() -> int:
    args = arguments()
    env = apply_environ()
    if database_ensure(env["DATABASE_URL"]):
        print(f"created database {env['DATABASE_URL'].rsplit('/', 1)[-1]}")
    manage("migrate", "--noinput", "-v", "0", env=env)
    django_setup()

    from channels_adapters.simulator.feed import Feed

    data_reset()
    fixtures_ensure()
    redis_flush(env["REDIS_URL"])

    stop = threading.Event()
    procs = Processes()

    def interrupted(signum, frame):
        stop.set()
        raise KeyboardInterrupt

    # Also SIGINT: a shell starts background jobs with it ignored, and Ctrl-C must still stop us.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    results: dict = {
        "config": {
            "server": args.server, "web_workers": args.web_workers,
            "web_threads": args.web_threads if args.server == "gunicorn" else None,
            "celery_concurrency": args.concurrency, "celery_prefetch": args.prefetch,
            "ingest_batch_size": int(os.environ.get("INGEST_BATCH_SIZE", "200")),
            "clients": args.clients, "messages": args.messages, "rate": args.rate, "duration_s": args.duration,
        },
    }
    try:
        web = procs.start("web", server_argv(args), env=env, log=RESULTS / "ingest-web.log")
        worker = procs.start("worker", worker_argv(args), env=env, log=RESULTS / "ingest-worker.log")
        wait_healthy(args.port, procs)
        meter = CpuMeter(
            {"web server": web.pid, "celery worker": worker.pid},
            database=env["DATABASE_URL"].rsplit("/", 1)[-1],
        )

        # Warm-up: imports, connections and the language model load in every process.
        feed = Feed()
        before = max_raw_event_id()
        warm = Posted()
        poster = Poster(args.port)
        for _ in range(40):
            warm.add(0, poster.post(*feed.payload(ACCOUNT_ID, [feed.event()])))
        wait_processed(before, 40, args.timeout, procs, stop)

        if "throughput" not in args.skip:
            webhooks = -(-args.messages // max(1, args.events_per_webhook))
            print(f"throughput: posting {args.messages} messages in {webhooks} webhooks from {args.clients} threads ...", flush=True)
            before = max_raw_event_id()
            meter.begin()
            started, posted = throughput_run(args, Feed(), stop)
            posting_s = (datetime.now(UTC) - started).total_seconds()
            done = wait_processed(before, webhooks - sum(posted.errors.values()), args.timeout, procs, stop)
            cpu = meter.end()
            elapsed = (done["last_done"] - started).total_seconds()
            lat = latencies(before)
            results["throughput"] = {
                "messages": args.messages, "events_per_webhook": args.events_per_webhook,
                "accepted": len(posted.seconds), "http_errors": posted.errors,
                "processing_errors": done["errors"], "posting_s": round(posting_s, 2),
                "elapsed_s": round(elapsed, 2), "messages_per_s": round(args.messages / elapsed, 1),
                "webhooks_per_s_accepted": round(len(posted.seconds) / posting_s, 1),
                "http_response_s": summary(posted.seconds), "receipt_to_routed_s": summary(lat["routed"]),
                "cpu_seconds": cpu,
            }

        if "latency" not in args.skip:
            total = int(args.rate * args.duration)
            print(f"latency: {total} new conversations at {args.rate:g}/s for {args.duration:g}s ...", flush=True)
            before = max_raw_event_id()
            meter.begin()
            _started, sending_s, posted = rate_run(args, Feed(), stop)
            wait_processed(before, total - sum(posted.errors.values()), args.timeout, procs, stop)
            cpu = meter.end()
            lat = latencies(before)
            results["latency"] = {
                "target_rate": args.rate, "achieved_rate": round(total / sending_s, 1),
                "accepted": len(posted.seconds), "http_errors": posted.errors,
                "receipt_to_routed_s": summary(lat["routed"]), "receipt_to_stored_s": summary(lat["stored"]),
                "http_response_s": summary(posted.seconds), "cpu_seconds": cpu,
            }
    except KeyboardInterrupt:
        print("interrupted; stopping the server and the worker", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()

    report(results)
    path = results_write("ingest", results)
    print(f"\nwritten to {path.relative_to(path.parents[2])}")
    return 0


def report(results: dict) -> None:
    c = results["config"]
    print(f"\nserver: {c['server']} x{c['web_workers']} · celery worker x{c['celery_concurrency']} "
          f"(prefetch {c['celery_prefetch']}) · {os.cpu_count()} cores\n")
    if "throughput" in results:
        t = results["throughput"]
        rows = [
            ("messages", f"{t['messages']}, {t['events_per_webhook']} per webhook ({t['accepted']} webhooks accepted, errors: {t['http_errors'] or 'none'})"),
            ("first post -> last routed", f"{t['elapsed_s']:.2f} s"),
            ("throughput", f"{t['messages_per_s']:.0f} messages/s   (budget >= 500)"),
            ("webhooks accepted", f"{t['webhooks_per_s_accepted']:.0f} /s over {t['posting_s']:.2f} s of posting"),
            ("HTTP response p50/p99", f"{ms(t['http_response_s']['p50'])} / {ms(t['http_response_s']['p99'])}"),
            ("receipt -> routed p50/p99", f"{ms(t['receipt_to_routed_s']['p50'])} / {ms(t['receipt_to_routed_s']['p99'])} (under saturation)"),
            ("CPU seconds", ", ".join(f"{k} {v}" for k, v in t["cpu_seconds"].items())),
        ]
        print(table(rows, "Throughput (as fast as possible)"))
        print()
    if "latency" in results:
        lat = results["latency"]
        r, s = lat["receipt_to_routed_s"], lat["receipt_to_stored_s"]
        rows = [
            ("rate", f"{lat['achieved_rate']:.1f} messages/s achieved (target {lat['target_rate']:g}), {r['count']} new conversations"),
            ("receipt -> in team queue", f"p50 {ms(r['p50'])}  p95 {ms(r['p95'])}  p99 {ms(r['p99'])}  max {ms(r['max'])}   (budget p99 < 2000 ms)"),
            ("receipt -> stored", f"p50 {ms(s['p50'])}  p95 {ms(s['p95'])}  p99 {ms(s['p99'])}"),
            ("HTTP response", f"p50 {ms(lat['http_response_s']['p50'])}  p99 {ms(lat['http_response_s']['p99'])}"),
            ("errors", str(lat["http_errors"] or "none")),
            ("CPU seconds", ", ".join(f"{k} {v}" for k, v in lat["cpu_seconds"].items())),
        ]
        print(table(rows, f"Latency at {lat['target_rate']:g} messages/s"))


if __name__ == "__main__":
    sys.exit(main())
