"""Dashboard benchmark: the supervisor's dashboard with 1,000,000 conversations and
5,000,000 messages in PostgreSQL.

Seeds its own database with COPY (once: later runs reuse it; ``--reseed`` starts again):
two years of a city's inbox — about 1,370 conversations a day on four channel accounts
(X served 8–17, Telegram-like 8–22 on weekdays with Catalonia's holidays, two around the
clock), eight teams of six officers — with every message, a first-response clock per
conversation, the SLA facts (holding and substantive replies, closed without response),
and the hourly rollups (``VolumeHour``, ``OfficerHour``), as the live code would have left
them. The ledger (``SlaEvent``) is not seeded: the dashboard never reads it.

Then measures, in-process with Django's test Client (no network, as bench/queue_page.py
does), the server time of the page and of the API, p50/p95 over repeated requests, and the
number of SQL queries of each, with the slowest queries' EXPLAIN ANALYZE.

    .venv/bin/python bench/dashboard.py [--requests 100] [--reseed] [--conversations 1000000]

Budget (issue 9): p95 < 150 ms; the query count does not grow with the data (the tests
count the same queries on ten conversations: tests/test_dashboard.py). Never run by the tests.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dashboard_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")
# The bench signs its users in with force_login: a second factor they never enrolled would
# refuse them (inbox/security/); the reminder that replaces it costs what a real page pays.
os.environ.setdefault("TWO_FACTOR_DEFER_ENROLMENT", "true")

from bench.common import (
    apply_environ,
    database_ensure,
    django_setup,
    manage,
    percentile,
    results_write,
    table,
)

BUDGET_P95_MS = 150.0
DAYS = 730
TEAMS = [
    ("Mobility", "dash-mobility"), ("Waste & cleaning", "dash-waste"), ("Taxes", "dash-taxes"),
    ("Street lighting", "dash-lights"), ("Noise & civic life", "dash-noise"), ("Permits", "dash-permits"),
    ("Social services", "dash-social"), ("General", "dash-general"),
]
OFFICERS_PER_TEAM = 6
# platform, external id, name, calendar ("x", "telegram" or None: around the clock)
ACCOUNTS = [
    ("x", "dash-x", "City on X", "x"), ("simulator", "dash-tg", "City on Telegram (simulated)", "telegram"),
    ("facebook", "dash-fb", "City on Facebook", None), ("instagram", "dash-ig", "City on Instagram", None),
]
# Citizens write mostly in the day: weight per local hour 0..23.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 19, 18, 16, 15, 15, 14, 13, 12, 11, 10, 9, 7, 4, 2]
TEXTS = ["El bus 24 no ha pasado", "La farola de mi calle no funciona", "¿Cómo pago la tasa turística?",
         "Hay ruido cada noche en la plaza", "Contenedor lleno desde el lunes", "Gràcies per la informació"]
ANSWER = "Gracias por su mensaje. Lo hemos trasladado al servicio correspondiente."


# --- COPY, fast ------------------------------------------------------------------------------


class Raw(str):
    """A value already in COPY's text format (encoded once, written many times)."""


def _encode(value) -> str:
    kind = type(value)
    if kind is Raw:
        return value
    if value is None:
        return "\\N"
    if kind is int:
        return str(value)
    if kind is bool:
        return "t" if value else "f"
    if kind is datetime:
        return value.isoformat()
    if kind is dict or kind is list:
        value = json.dumps(value, ensure_ascii=False)
    value = str(value)
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


# Secondary indexes of the tables the seed fills are dropped while it copies and built again
# afterwards (one sort per index instead of five million insertions, trigram GIN included).
BIG_TABLES = ("inbox_contact", "inbox_conversation", "inbox_message", "routing_slaclock", "routing_slaresponsefact",
              "routing_volumehour", "routing_officerhour")


def indexes_drop() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) AND NOT EXISTS ("
            "SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.schemaname) || '.' || "
            "quote_ident(i.indexname))::regclass)",
            [list(BIG_TABLES)],
        )
        rows = cursor.fetchall()
        for name, _definition in rows:
            cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _name, definition in rows]


def indexes_create(definitions: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for definition in definitions:
            cursor.execute(definition)


class Copier:
    """COPY rows of one model, giving only the varying columns: every other column gets its
    default (so fields added later keep the seed working), encoded once."""

    def __init__(self, model, varying: list[str]) -> None:
        fields = [
            f for f in model._meta.concrete_fields
            if not getattr(f, "generated", False) and not (f.primary_key and f.attname not in varying)
        ]
        self.table = model._meta.db_table
        self.columns = [f.column for f in fields]
        self.varying = varying
        slots = []
        for f in fields:
            if f.attname in varying:
                slots.append(None)
            elif f.has_default():
                slots.append(_encode(f.get_default()))
            elif f.null:
                slots.append("\\N")
            else:
                slots.append("")
        self.slots = slots
        self.positions = [next(i for i, f in enumerate(fields) if f.attname == name) for name in varying]
        self.buffer = io.StringIO()
        self.pending = 0
        self.total = 0

    def add(self, *values) -> None:
        line = list(self.slots)
        for position, value in zip(self.positions, values, strict=True):
            line[position] = _encode(value)
        self.buffer.write("\t".join(line))
        self.buffer.write("\n")
        self.pending += 1

    def flush(self) -> None:
        from django.db import connection

        if not self.pending:
            return
        self.buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN", self.buffer,
            )
        self.total += self.pending
        self.buffer = io.StringIO()
        self.pending = 0


# --- the seed --------------------------------------------------------------------------------


def fixtures():
    """Calendars, policy, teams with officers and a supervisor each, an admin, accounts."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from inbox.models import ChannelAccount, Team
    from inbox.permissions import ADMIN, OFFICER, SUPERVISOR, team_member_add
    from routing.models import ServiceCalendar, SlaPolicy

    user_model = get_user_model()
    calendars = {
        "x": ServiceCalendar.objects.get_or_create(name="Dash X", defaults={
            "timezone": "Europe/Madrid", "holidays_country": "ES", "holidays_subdivision": "CT",
            "periods": [{"weekday": d, "opens": "08:00", "closes": "17:00"} for d in range(5)]})[0],
        "telegram": ServiceCalendar.objects.get_or_create(name="Dash Telegram", defaults={
            "timezone": "Europe/Madrid", "holidays_country": "ES", "holidays_subdivision": "CT",
            "closed_days": ["2025-09-24", "2026-09-24"],
            "periods": [{"weekday": d, "opens": "08:00", "closes": "22:00"} for d in range(5)]})[0],
    }
    policy, _ = SlaPolicy.objects.get_or_create(name="Dash default", defaults={
        "first_response_minutes": 120, "substantive_minutes": 480})
    teams, officers = [], {}
    for name, slug in TEAMS:
        team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": name})
        teams.append(team)
        officers[team.id] = []
        for n in range(1, OFFICERS_PER_TEAM + 1):
            user, created = user_model.objects.get_or_create(username=f"{slug}-officer-{n}")
            if created:
                user.set_unusable_password()
                user.save()
                team_member_add(team, user, OFFICER)
            officers[team.id].append(user.id)
        supervisor, created = user_model.objects.get_or_create(username=f"{slug}-supervisor")
        if created:
            team_member_add(team, supervisor, SUPERVISOR)
    admin, created = user_model.objects.get_or_create(username="dash-admin", defaults={"is_staff": True,
                                                                                        "is_superuser": True})
    admin.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    accounts = []
    for platform, external_id, name, calendar in ACCOUNTS:
        account, _ = ChannelAccount.objects.get_or_create(
            platform=platform, external_id=external_id, defaults={"name": name, "handle": "city"})
        account.calendar = calendars[calendar] if calendar else None
        account.save(update_fields=["calendar"])
        accounts.append(account)
    return teams, officers, accounts, policy


def seeded(n: int) -> bool:
    from inbox.models import Conversation

    return Conversation.objects.filter(thread_key__startswith="dash:").count() == n


_CTX: dict = {}


def _seed_range(bounds: tuple[int, int]) -> tuple:
    """Seed conversations ``lo`` to ``hi - 1`` (a worker process: its own connection)."""
    import uuid as uuid_module

    from django.db import connection

    from inbox.models import Conversation, Message
    from routing.models import SlaClock, SlaResponseFact

    lo, hi = bounds
    ctx = _CTX
    rng = random.Random(ctx["rng_seed"] * 1_000_003 + lo)
    now, teams, officers, accounts, policy = ctx["now"], ctx["teams"], ctx["officers"], ctx["accounts"], ctx["policy"]
    cals, plan_raw, checks, target = ctx["cals"], ctx["plan_raw"], ctx["checks"], ctx["target"]
    per_conversation, n_contacts = ctx["per_conversation"], ctx["n_contacts"]
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET session_replication_role = replica")
    conversations = Copier(Conversation, [
        "id", "account_id", "kind", "thread_key", "contact_id", "team_id", "assignee_id", "status", "priority",
        "language", "subject", "last_message_preview", "routed_by", "first_inbound_at", "first_response_at",
        "last_inbound_at", "last_message_at", "routed_at", "resolved_at", "first_response_due_at", "sla_due_at",
        "sla_state", "first_response_kind", "created_at", "updated_at"])
    messages = Copier(Message, [
        "id", "uuid", "conversation_id", "account_id", "direction", "kind", "visibility", "external_id",
        "author_contact_id", "author_user_id", "text", "sent_at", "received_at", "delivery_status", "delivered_at"])
    clocks = Copier(SlaClock, [
        "conversation_id", "kind", "policy_id", "policy_version", "calendar_id", "target_seconds", "plan",
        "checks_done", "started_at", "due_at", "state", "met_at", "met_kind", "breached_at", "stopped_at",
        "next_check_at", "created_at"])
    facts = Copier(SlaResponseFact, [
        "conversation_id", "team_id", "account_id", "officer_id", "day", "started_at", "responded_at", "kind",
        "business_seconds", "calendar_seconds", "target_seconds", "within_target", "substantive_at",
        "substantive_business_seconds", "updated_at"])
    volume: dict[tuple, list[int]] = {}
    officer_hours: dict[tuple, int] = {}
    counts: dict[str, int] = {}
    n_messages = 0
    hours = list(range(24))
    for cid in range(lo, hi):
        account = accounts[rng.choices((0, 1, 2, 3), weights=(4, 3, 2, 1))[0]]
        cal = cals[account.id]
        team = teams[cid % len(teams)]
        # Chronological, as a real inbox fills: the rows of a period lie together on disk.
        age_days = DAYS * (ctx["n_conversations"] - cid) / ctx["n_conversations"]
        day = (now - timedelta(days=age_days)).astimezone(cal.tz).date()
        local = datetime.combine(day, datetime.min.time(), cal.tz) + timedelta(
            hours=rng.choices(hours, HOUR_WEIGHTS)[0], seconds=rng.randrange(3600))
        first_at = min(local.astimezone(UTC), now - timedelta(minutes=1))
        age = (now - first_at).total_seconds() / 86_400
        # The backlog: most of today's, some of the last days', a few forgotten ones.
        p_active = 0.6 if age < 1 else 0.3 if age < 3 else 0.05 if age < 30 else 0.01
        active = rng.random() < p_active
        if active:
            status = rng.choices(["new", "open", "pending", "snoozed"], [4, 4, 2, 1])[0]
        else:
            status = "spam" if rng.random() < 0.03 else "resolved"
        counts[status] = counts.get(status, 0) + 1
        assignee = rng.choice(officers[team.id]) if (status != "new" or rng.random() < 0.4) else None
        answered = (status in ("resolved", "pending", "snoozed") and rng.random() < 0.97) or \
            (status == "open" and rng.random() < 0.5)
        holding = answered and rng.random() < 0.15
        # Business minutes to the first answer: mostly within the two hours, a tail beyond.
        business = rng.choice([rng.uniform(2, 60), rng.uniform(20, 120), rng.uniform(60, 400)]) * 60
        due = cal.add_business(first_at, target)
        answer_at = cal.add_business(first_at, business) if answered else None
        if answer_at is not None and answer_at >= now:
            answered, holding, answer_at = False, False, None
        if answered and assignee is None:
            assignee = rng.choice(officers[team.id])
        responder = assignee
        # Messages: the citizen's first, then answers and follow-ups alternating.
        k = min(15, max(1, round(rng.gauss(per_conversation, 1.6)))) if answered else rng.randint(1, 3)
        at = first_at
        last_in, last_at, outs = first_at, first_at, []
        for i in range(k):
            direction = "out" if (answered and i % 2 == 1) else "in"
            if i == 1 and answered:
                at = answer_at
            elif i > 0:
                at = at + timedelta(minutes=rng.uniform(5, 240))
                if at >= now:
                    break
            message_id = cid * 16 + i  # unique without coordination between workers
            n_messages += 1
            if direction == "in":
                messages.add(message_id, uuid_module.UUID(int=message_id), cid, account.id, "in", "mention", "public",
                             f"dash-{message_id}", None, None, rng.choice(TEXTS), at, at, "", None)
                last_in = at
            else:
                messages.add(message_id, uuid_module.UUID(int=message_id), cid, account.id, "out", "reply", "public",
                             f"dash-{message_id}", None, responder, ANSWER, at, at, "sent", at)
                outs.append(at)
            last_at = at
            hour = at.replace(minute=0, second=0, microsecond=0)
            key = (hour, team.id, account.id)
            counts_hour = volume.setdefault(key, [0, 0])
            counts_hour[0 if direction == "in" else 1] += 1
            if direction == "out":
                officer_key = (hour, responder, team.id, account.id)
                officer_hours[officer_key] = officer_hours.get(officer_key, 0) + 1
        # The first-response clock and the conversation's SLA columns.
        state, sla_state, sla_due, breached_at, checks_done, next_check = "running", "", None, None, 0, None
        met_kind = ""
        if answered:
            met_kind = "holding" if holding else "substantive"
            state, sla_state = "met", "met"
            breached_at = due if answer_at > due else None
        elif status in ("resolved", "spam"):
            state = "stopped"
        else:
            elapsed = cal.business_seconds(first_at, now)
            checks_done = sum(1 for c in checks if elapsed >= target * c[0] / 100)
            if status == "pending":
                state, sla_state = "paused", "paused"
            elif elapsed >= target:
                state, sla_state, breached_at, sla_due = "breached", "breached", due, due
            else:
                sla_state = "at_risk" if checks_done else "running"
                sla_due = due
                next_check = cal.add_business(first_at, target * checks[checks_done][0] / 100) \
                    if checks_done < len(checks) else None
        clocks.add(cid, "first_response", policy.id, policy.version, account.calendar_id, target, plan_raw, checks_done,
                   first_at, due, state, answer_at, met_kind, breached_at,
                   (answer_at if status in ("resolved", "spam") and answered else
                    (first_at + timedelta(hours=3) if state == "stopped" else None)),
                   next_check, first_at)
        resolved_at = last_at + timedelta(hours=1) if status == "resolved" else None
        conversations.add(
            cid, account.id, "public", f"dash:{cid}", (cid % n_contacts) + 1, team.id, assignee, status,
            rng.choices([0, 1, 2, 3], [10, 80, 8, 2])[0], "es", rng.choice(TEXTS), rng.choice(TEXTS),
            "channel account default team", first_at, answer_at, last_in, last_at, first_at, resolved_at, due,
            sla_due, sla_state, met_kind, first_at, last_at,
        )
        day_local = first_at.astimezone(cal.tz).date()
        if answered:
            spent = cal.business_seconds(first_at, answer_at)
            substantive_at = substantive_spent = None
            if holding and len(outs) > 1:
                substantive_at = outs[1]
                substantive_spent = cal.business_seconds(first_at, substantive_at)
            facts.add(cid, team.id, account.id, responder, day_local, first_at, answer_at, met_kind, spent,
                      round((answer_at - first_at).total_seconds()), target, spent <= target, substantive_at,
                      substantive_spent, now)
        elif status == "resolved" and rng.random() < 0.5:
            facts.add(cid, team.id, account.id, assignee, day_local, first_at, None, "closed_without_response",
                      None, None, target, False, None, None, now)
        if cid % 20_000 == 0:  # parents before children
            for copier in (conversations, messages, clocks, facts):
                copier.flush()
    for copier in (conversations, messages, clocks, facts):
        copier.flush()
    connection.close()
    return volume, officer_hours, counts, n_messages, clocks.total, facts.total


def seed(n_conversations: int, n_messages: int, *, rng_seed: int = 9, workers: int = 4) -> dict:
    from django.db import connection, transaction

    from bench.seed import _sequences_reset
    from inbox.models import Contact, Conversation, Message
    from routing.calendars import calendar_for
    from routing.models import OfficerHour, SlaClock, SlaResponseFact, VolumeHour
    from routing.sla import plan_for

    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(
            "TRUNCATE routing_slaevent, routing_slaclock, routing_slaresponsefact, routing_volumehour, "
            "routing_officerhour, inbox_messagerevision, inbox_deliveryattempt, inbox_message, "
            "inbox_conversation_tags, inbox_conversation, inbox_contact RESTART IDENTITY CASCADE"
        )
    with transaction.atomic():
        teams, officers, accounts, policy = fixtures()
    definitions = indexes_drop()
    with connection.cursor() as cursor:
        # Foreign keys are not checked row by row while copying (the seed writes parents first
        # and consistent ids); they are in place again before anything reads.
        cursor.execute("SET session_replication_role = replica")
    cals = {a.id: calendar_for(a.calendar) for a in accounts}
    plan = plan_for(policy)
    plan_raw = Raw(_encode(plan))
    checks = plan["checks"]
    target = 120 * 60
    per_conversation = n_messages / n_conversations

    contacts = Copier(Contact, ["id", "platform", "external_id", "handle", "name", "created_at", "updated_at"])
    n_contacts = int(n_conversations / 1.4)
    for cid in range(1, n_contacts + 1):
        contacts.add(cid, "x", f"dash-user-{cid}", f"citizen{cid}", f"Citizen {cid}", now, now)
        if cid % 100_000 == 0:
            contacts.flush()
    contacts.flush()
    _CTX.update(now=now, teams=teams, officers=officers, accounts=accounts, policy=policy, cals=cals,
                plan_raw=plan_raw, checks=checks, target=target, per_conversation=per_conversation,
                n_contacts=n_contacts, rng_seed=rng_seed, n_conversations=n_conversations)
    # Worker processes (forked: they inherit the context; the parent's connection is closed
    # first so that none is shared). Four of them also take a fairer share of a busy machine.
    connection.close()
    step = 20_000
    ranges = [(lo, min(lo + step, n_conversations + 1)) for lo in range(1, n_conversations + 1, step)]
    volume: dict[tuple, list[int]] = {}
    officer_hours: dict[tuple, int] = {}
    counts: dict[str, int] = {}
    n_messages = n_clocks = n_facts = 0
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for done, (v, o, c, m, n_c, n_f) in enumerate(pool.imap_unordered(_seed_range, ranges), 1):
            for key, (n_in, n_out) in v.items():
                merged = volume.setdefault(key, [0, 0])
                merged[0] += n_in
                merged[1] += n_out
            for key, n in o.items():
                officer_hours[key] = officer_hours.get(key, 0) + n
            for key, n in c.items():
                counts[key] = counts.get(key, 0) + n
            n_messages, n_clocks, n_facts = n_messages + m, n_clocks + n_c, n_facts + n_f
            if done % 5 == 0 or done == len(ranges):
                print(f"  {min(done * step, n_conversations):,} conversations, {n_messages:,} messages "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET session_replication_role = replica")
    rollup = Copier(VolumeHour, ["hour", "team_id", "team_key", "account_id", "messages_in", "messages_out"])
    for (hour, team_id, account_id), (n_in, n_out) in sorted(volume.items(), key=lambda kv: kv[0][0]):
        rollup.add(hour, team_id, team_id, account_id, n_in, n_out)
        if rollup.pending >= 100_000:
            rollup.flush()
    rollup.flush()
    by_officer = Copier(OfficerHour, ["hour", "officer_id", "team_id", "team_key", "account_id", "replies"])
    for (hour, officer_id, team_id, account_id), n in sorted(officer_hours.items(), key=lambda kv: kv[0][0]):
        by_officer.add(hour, officer_id, team_id, team_id, account_id, n)
        if by_officer.pending >= 100_000:
            by_officer.flush()
    by_officer.flush()
    _sequences_reset(Contact, Conversation, Message, SlaClock, SlaResponseFact, VolumeHour, OfficerHour)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = origin")
    print(f"  building {len(definitions)} indexes ...", flush=True)
    indexes_create(definitions)
    print("  VACUUM ANALYZE ...", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have after a day of traffic
    return {
        "conversations": n_conversations, "messages": n_messages, "contacts": contacts.total,
        "clocks": n_clocks, "facts": n_facts, "volume_hours": rollup.total,
        "officer_hours": by_officer.total, "by_status": counts, "seconds": round(time.perf_counter() - started, 1),
        "seeded_at": now.isoformat(),
    }


def rollups_ensure() -> None:
    """The window rollups (``SlaRollup``) of the days around today, computed from the seeded
    facts as ``manage.py sla_rebuild_rollups`` does (the live path writes them with each
    fact; the seed writes facts with COPY). Done when today's windows are missing: a seed
    from another day, or from before the rollups existed."""
    from django.utils import timezone

    from routing.models import SlaRollup
    from routing.sla_rollups import windows_rebuild

    today = timezone.localdate()
    if SlaRollup.objects.filter(end_day=today).exists():
        return
    started = time.perf_counter()
    rows = windows_rebuild(today - timedelta(days=1), today + timedelta(days=2))
    print(f"  window rollups for {today - timedelta(days=1)} to {today + timedelta(days=2)}: {rows:,} rows "
          f"in {time.perf_counter() - started:.1f} s", flush=True)


# --- the measurement -------------------------------------------------------------------------


def timed(func, n: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        func()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        func()
        out.append((time.perf_counter() - t) * 1000)
    return out


def captured(func) -> list[dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        func()
    return ctx.captured_queries


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def database_drop(database_url: str) -> None:
    """Drop the bench database (only this benchmark's own: its name must end in ``_bench``)."""
    from urllib.parse import urlparse

    import psycopg2
    from psycopg2 import sql

    url = urlparse(database_url)
    name = url.path.lstrip("/")
    if not name.endswith("_bench"):
        raise SystemExit(f"refusing to drop {name!r}: --reseed drops the bench database, whose name ends in _bench")
    conn = psycopg2.connect(dbname="postgres", user=url.username or "postgres", password=url.password,
                            host=url.hostname or "127.0.0.1", port=url.port or 5432)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


def arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conversations", type=int, default=1_000_000)
    p.add_argument("--messages", type=int, default=5_000_000)
    p.add_argument("--requests", type=int, default=100, help="timed requests per case")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--reseed", action="store_true", help="seed again even if the seed is there")
    p.add_argument("--seed-only", action="store_true")
    return p.parse_args()


def main() -> int:
    args = arguments()
    env = apply_environ()
    if args.reseed:
        database_drop(env["DATABASE_URL"])  # a fresh schema: an interrupted seed leaves no index behind
    database_ensure(env["DATABASE_URL"])
    manage("migrate", "--noinput", "-v", "0", env=env)
    django_setup()

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from inbox.models import Conversation, Message
    from routing.models import SlaResponseFact

    seeding = None
    if args.reseed or not seeded(args.conversations):
        print(f"seeding {args.conversations:,} conversations, ~{args.messages:,} messages ...", flush=True)
        seeding = seed(args.conversations, args.messages)
        print(f"  seeded in {seeding['seconds']} s: {json.dumps(seeding)}", flush=True)
    rollups_ensure()
    if args.seed_only:
        return 0
    users = get_user_model().objects
    total = Conversation.objects.count()
    n_messages = Message.objects.count()
    active = Conversation.objects.filter(status__in=Conversation.ACTIVE_STATUSES).count()
    facts_30d = SlaResponseFact.objects.filter(day__gte=datetime.now(UTC).date() - timedelta(days=29)).count()
    print(f"{total:,} conversations, {n_messages:,} messages, {active:,} open, {facts_30d:,} first responses "
          "in the last 30 days", flush=True)

    clients = {}
    for name in ("dash-admin", "dash-mobility-supervisor"):
        client = Client()
        client.force_login(users.get(username=name))
        clients[name] = client

    def get(client, url, params):
        def call():
            response = client.get(url, params)
            if response.status_code != 200:
                raise RuntimeError(f"{url} {params} answered {response.status_code}")
            return response
        return call

    admin, supervisor = clients["dash-admin"], clients["dash-mobility-supervisor"]
    cases = {
        "page /dashboard/ (admin, 8 teams, 7d)": get(admin, "/dashboard/", {"period": "7d"}),
        "page /dashboard/ (admin, 30d)": get(admin, "/dashboard/", {"period": "30d"}),
        "page /dashboard/ (supervisor of 1 team, 7d)": get(supervisor, "/dashboard/", {"period": "7d"}),
        "live fragment /dashboard/?fragment=1 (admin, 7d)": get(admin, "/dashboard/", {"period": "7d", "fragment": 1}),
        "API /api/v1/dashboard/ (admin, today)": get(admin, "/api/v1/dashboard/", {"period": "today"}),
        "API /api/v1/dashboard/ (admin, 7d)": get(admin, "/api/v1/dashboard/", {"period": "7d"}),
        "API /api/v1/dashboard/ (admin, 30d)": get(admin, "/api/v1/dashboard/", {"period": "30d"}),
        "API (supervisor of 1 team, 30d)": get(supervisor, "/api/v1/dashboard/", {"period": "30d", "team": "dash-mobility"}),
        "API CSV, all tables (admin, 30d)": get(admin, "/api/v1/dashboard/", {"period": "30d", "format": "csv"}),
    }
    results: dict = {"conversations": total, "messages": n_messages, "open": active, "facts_30d": facts_30d,
                     "seeding": seeding, "cases": {}}
    rows = []
    for name, func in cases.items():
        ms = timed(func, args.requests, args.warmup)
        queries = [len(captured(func)) for _ in range(2)]
        p50, p95 = percentile(ms, 50), percentile(ms, 95)
        results["cases"][name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "max_ms": round(max(ms), 1),
                                  "requests": len(ms), "queries": queries}
        verdict = "ok" if p95 < BUDGET_P95_MS else "OVER BUDGET"
        rows.append((name, f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  queries {queries[0]:>3}  {verdict}"))
    print()
    print(table(rows, f"Dashboard, {total:,} conversations and {n_messages:,} messages, {args.requests} requests "
                      f"each (budget p95 < {BUDGET_P95_MS:g} ms)"))

    # Where the time goes: the queries of the heaviest case, slowest first, with their plans.
    queries = captured(cases["page /dashboard/ (admin, 30d)"])
    slowest = sorted(queries, key=lambda q: float(q["time"]), reverse=True)[:6]
    results["slowest_queries"] = []
    print("\nSlowest queries of the admin's 30-day page:")
    for q in slowest:
        sql = q["sql"]
        plan = explain(sql) if sql.lstrip().upper().startswith("SELECT") else ""
        took = re.search(r"Execution Time: ([\d.]+) ms", plan)
        results["slowest_queries"].append({"ms": float(q["time"]) * 1000, "sql": sql, "plan": plan})
        print(f"  {float(q['time']) * 1000:6.1f} ms (EXPLAIN ANALYZE {took.group(1) if took else '?'} ms)  "
              f"{sql[:140]}...")
    connection.close()
    path = results_write("dashboard", results)
    print(f"\nwritten to {path.relative_to(path.parents[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
