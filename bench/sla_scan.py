"""SLA scan benchmark: 100,000 running clocks in PostgreSQL, one scan timed.

Seeds its own database with COPY (100,000 open conversations, each with a running
first-response clock on the 012 Telegram calendar: weekdays 8:00–22:00, Catalonia's
holidays), then times ``routing.sla_scan.sla_scan`` in two situations:

* **a minute's work**: clocks started over the last hours, so the scan finds the few whose
  next check has come (what beat does every minute);
* **everything due at once**: every clock past its first warning and many past their breach
  (the backlog after an outage of the workers) — warnings, breaches, escalations and the
  notifications of all of them in one run.

    .venv/bin/python bench/sla_scan.py [--clocks 100000]

Budget (issue 9): 100,000 running clocks scanned in under 5 s. Never run by the tests.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sla_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")

from bench.common import apply_environ, database_ensure, django_setup, machine, manage

MADRID = ZoneInfo("Europe/Madrid")
# A Wednesday at noon: the service is open, nothing is a holiday.
NOW = datetime(2026, 10, 21, 12, 0, tzinfo=MADRID)


def seed(n: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from bench.seed import _sequences_reset, copy_rows
    from inbox.models import ChannelAccount, Contact, Conversation, Team
    from inbox.permissions import OFFICER, SUPERVISOR, team_member_add
    from routing.calendars import calendar_for
    from routing.models import ServiceCalendar, SlaClock, SlaPolicy
    from routing.sla import check_at, plan_for

    rng = random.Random(2026)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE routing_slaevent, routing_slaclock, routing_slaresponsefact, routing_volumehour, "
                "inbox_message, inbox_conversation_tags, inbox_conversation, inbox_contact RESTART IDENTITY CASCADE"
            )
        team, _ = Team.objects.get_or_create(slug="bench-sla", defaults={"name": "SLA (bench)"})
        users = get_user_model()
        officers = []
        for i in range(20):
            user, created = users.objects.get_or_create(username=f"sla-officer-{i}")
            if created:
                team_member_add(team, user, OFFICER)
            officers.append(user.id)
        boss, created = users.objects.get_or_create(username="sla-supervisor")
        if created:
            team_member_add(team, boss, SUPERVISOR)
        calendar, _ = ServiceCalendar.objects.get_or_create(name="012 Telegram (bench)", defaults={
            "timezone": "Europe/Madrid", "holidays_country": "ES", "holidays_subdivision": "CT",
            "periods": [{"weekday": d, "opens": "08:00", "closes": "22:00"} for d in range(5)],
        })
        account, _ = ChannelAccount.objects.get_or_create(
            platform="simulator", external_id="sla-bench", defaults={"name": "SLA bench", "calendar": calendar})
        SlaPolicy.objects.all().delete()
        policy = SlaPolicy.objects.create(name="Default (bench)", first_response_minutes=120, warn_at=[75, 90],
                                          escalations=[{"at": 100, "action": "notify_supervisors"}])
        cal = calendar_for(calendar)
        plan = plan_for(policy)
        copy_rows(Contact, [{"id": 1, "platform": "simulator", "external_id": "sla-bench-citizen",
                             "profile": {}, "created_at": NOW, "updated_at": NOW}])
        conversations, clocks = [], []
        for i in range(1, n + 1):
            # Started in the last 90 minutes of service: their first check (the 75 % warning,
            # 90 minutes in) falls over the next 90 minutes, about 1,100 a minute.
            started = NOW - timedelta(seconds=rng.uniform(0, 5400))
            conversations.append({
                "id": i, "account_id": account.id, "kind": "public", "thread_key": f"sla:{i}", "contact_id": 1,
                "team_id": team.id, "assignee_id": officers[i % 20], "status": "open", "priority": 1,
                "first_inbound_at": started, "last_inbound_at": started, "last_message_at": started,
                "created_at": started, "updated_at": started, "sla_state": "running",
            })
            clock = SlaClock(started_at=started, target_seconds=7200, plan=plan, paused_seconds=0, checks_done=0)
            due = cal.add_business(started, 7200)
            clocks.append({
                "id": i, "conversation_id": i, "kind": "first_response", "policy_id": policy.id,
                "policy_version": 1, "calendar_id": calendar.id, "target_seconds": 7200, "plan": plan,
                "checks_done": 0, "started_at": started, "due_at": due, "state": "running",
                "paused_seconds": 0, "next_check_at": check_at(clock, cal, 0), "created_at": started,
            })
            conversations[-1]["first_response_due_at"] = conversations[-1]["sla_due_at"] = due
        copy_rows(Conversation, conversations)
        copy_rows(SlaClock, clocks)
        _sequences_reset(Contact, Conversation, SlaClock)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_conversation; ANALYZE routing_slaclock")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clocks", type=int, default=100_000)
    args = parser.parse_args()
    env = apply_environ()
    database_ensure(env["DATABASE_URL"])
    manage("migrate", "--noinput", "-v", "0", env=env)
    django_setup()

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from routing.models import SlaClock, SlaEvent
    from routing.sla_scan import sla_scan

    began = time.perf_counter()
    seed(args.clocks)
    print(f"seeded {args.clocks:,} running clocks in {time.perf_counter() - began:.1f} s")
    due_now = SlaClock.objects.filter(state="running", next_check_at__lte=NOW).count()

    def timed(label: str, now: datetime) -> None:
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            result = sla_scan(now=now)
            elapsed = time.perf_counter() - began
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{label}: {elapsed:.2f} s — {result.clocks:,} clocks handled, {result.events:,} ledger rows, "
              f"{result.notifications:,} notifications ({len(queries.captured_queries)} queries; "
              f"load average {load})", flush=True)

    print(f"running clocks: {SlaClock.objects.filter(state='running').count():,}; due at {NOW:%a %H:%M}: {due_now:,}")
    timed("nothing due yet (scan at noon)", NOW)
    timed("a minute's work (12:01)", NOW + timedelta(minutes=1))
    timed("again at 12:01, nothing new", NOW + timedelta(minutes=1))
    # Everything due at once: the scan runs two days later, after an outage: warnings,
    # breach and escalation for every clock.
    later = NOW + timedelta(days=2)
    timed("everything due at once (after an outage)", later)
    print(f"ledger: {SlaEvent.objects.count():,} rows; breached clocks: "
          f"{SlaClock.objects.filter(state='breached').count():,}")
    print("machine:", machine())


if __name__ == "__main__":
    main()
