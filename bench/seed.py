"""Seed a large, realistic inbox for the queue benchmarks, fast (PostgreSQL COPY).

100,000 conversations by default, each with its contact and one or two messages (the
citizen's question, and for most settled conversations the officer's answer), spread over
teams, channel accounts, statuses and a year of timestamps: active conversations are
recent, resolved ones go back months, as in a real administration's inbox.

Rows are written with COPY in the column order of the models' own fields, so a field
added to a model later is filled with its default and the seed keeps working.

    .venv/bin/python bench/seed.py [--conversations 100000]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import apply_environ, database_ensure, django_setup, manage

TEAMS = [
    ("Mobility", "bench-mobility"), ("Waste & cleaning", "bench-waste"), ("Taxes", "bench-taxes"),
    ("Street lighting", "bench-lights"), ("Noise & civic life", "bench-noise"),
    ("Permits", "bench-permits"), ("Social services", "bench-social"), ("General", "bench-general"),
]
OFFICERS_PER_TEAM = 6
ACCOUNTS = [
    ("x", "bench-x", "City on X", "city"),
    ("facebook", "bench-fb", "City on Facebook", "city"),
    ("instagram", "bench-ig", "City on Instagram", "city"),
    ("simulator", "bench-seed-sim", "City (simulated)", "city-sim"),
]
# Share of conversations per status: most of an archive is settled.
STATUSES = [("resolved", 0.62), ("new", 0.08), ("open", 0.14), ("pending", 0.07), ("snoozed", 0.02), ("spam", 0.07)]
ANSWERS = {
    "ca": "Gràcies pel vostre missatge. Ho hem passat al servei corresponent.",
    "es": "Gracias por su mensaje. Lo hemos trasladado al servicio correspondiente.",
    "en": "Thank you for your message. We have passed it on to the team in charge.",
    "fr": "Merci pour votre message. Nous l'avons transmis au service concerné.",
    "pl": "Dziękujemy za wiadomość. Przekazaliśmy ją do właściwego działu.",
    "fa": "از پیام شما متشکریم. آن را به بخش مربوط ارسال کردیم.",
}
TAGS = [("urgent", "#dc2626"), ("press", "#7c3aed"), ("complaint", "#ea580c"), ("follow-up", "#0891b2")]

NULL = object()


def _text_value(value) -> str:
    """One value in COPY's text format."""
    if value is None or value is NULL:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    return (
        str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def copy_rows(model, rows: list[dict]) -> None:
    """COPY ``rows`` (dicts keyed by attname) into ``model``'s table; missing fields get defaults."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not getattr(f, "generated", False)]
    defaults = {}
    for f in fields:
        if f.has_default():
            default = f.default
            if not callable(default):
                defaults[f.attname] = default
        elif f.null:
            defaults[f.attname] = None
        elif f.get_internal_type() in ("CharField", "TextField", "SlugField"):
            defaults[f.attname] = ""
    buffer = io.StringIO()
    for row in rows:
        values = []
        for f in fields:
            if f.attname in row:
                value = row[f.attname]
            elif f.attname in defaults:
                value = defaults[f.attname]
            elif f.has_default():
                value = f.get_default()
            else:
                raise KeyError(f"{model.__name__}.{f.attname} needs a value")
            values.append(_text_value(value))
        buffer.write("\t".join(values))
        buffer.write("\n")
    buffer.seek(0)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)


def _sequences_reset(*models) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def fixtures_ensure():
    """Teams with their officers and the channel accounts (ORM: a few dozen rows)."""
    from django.contrib.auth import get_user_model

    from inbox.models import ChannelAccount, Tag, Team
    from inbox.permissions import OFFICER, team_member_add

    user_model = get_user_model()
    teams, officers = [], {}
    for name, slug in TEAMS:
        team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": f"{name} (bench)"})
        teams.append(team)
        officers[team.id] = []
        for n in range(1, OFFICERS_PER_TEAM + 1):
            user, created = user_model.objects.get_or_create(username=f"{slug}-officer-{n}")
            if created:
                user.set_unusable_password()
                user.save()
                team_member_add(team, user, OFFICER)
            officers[team.id].append(user.id)
    accounts = []
    for platform, external_id, name, handle in ACCOUNTS:
        account, _ = ChannelAccount.objects.get_or_create(
            platform=platform, external_id=external_id, defaults={"name": name, "handle": handle},
        )
        accounts.append(account)
    tags = [Tag.objects.get_or_create(slug=f"bench-{n}", defaults={"name": f"{n} (bench)", "color": c})[0]
            for n, c in TAGS]
    return teams, officers, accounts, tags


def seeded_count() -> int:
    from inbox.models import Conversation

    return Conversation.objects.filter(team__slug__startswith="bench-", thread_key__startswith="seed:").count()


def seed(conversations: int = 100_000, *, rng_seed: int = 2026) -> dict:
    """Empty the conversation tables and write ``conversations`` new ones. Returns counts."""
    from django.db import connection, transaction

    from bench.ingest import data_reset
    from channels_adapters.simulator.feed import CORPUS, FIRST, FOLLOW_UPS, LAST
    from inbox.models import Contact, Conversation, Message

    rng = random.Random(rng_seed)
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    with transaction.atomic():
        data_reset()
        teams, officers, accounts, tags = fixtures_ensure()

        # About 1.4 conversations per citizen: some people write again.
        n_contacts = max(1, int(conversations / 1.4))
        contacts = []
        for i in range(1, n_contacts + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            account = accounts[i % len(accounts)]
            contacts.append({
                "id": i, "platform": account.platform, "external_id": f"seed-user-{i}",
                "handle": f"{first.lower()}{last.lower()}{i}", "name": f"{first} {last}",
                "profile": {}, "person_id": None, "created_at": now - timedelta(days=400),
                "updated_at": now - timedelta(days=rng.randrange(0, 400)),
            })
        copy_rows(Contact, contacts)

        status_names = [s for s, _ in STATUSES]
        status_weights = [w for _, w in STATUSES]
        conv_rows, msg_rows, tag_rows = [], [], []
        message_id = 0
        counts: dict[str, int] = {}
        for cid in range(1, conversations + 1):
            contact = contacts[rng.randrange(n_contacts)]
            account = next(a for a in accounts if a.platform == contact["platform"])
            status = rng.choices(status_names, status_weights)[0]
            counts[status] = counts.get(status, 0) + 1
            # Active conversations are recent; the archive goes back a year.
            age = rng.uniform(0, 3) if status in ("new", "open") else rng.uniform(0, 365)
            first_at = now - timedelta(days=age, seconds=rng.randrange(86_400))
            language, _topic, text = rng.choice(CORPUS)
            team = teams[cid % len(teams)] if rng.random() > 0.02 else None
            routed = team is not None
            assignee = None
            if routed and (status != "new" or rng.random() < 0.5):
                assignee = rng.choice(officers[team.id])
            answered = status in ("resolved", "pending", "snoozed") or (status == "open" and rng.random() < 0.4)
            answer_at = first_at + timedelta(minutes=rng.uniform(5, 240)) if answered else None
            follow_up = status == "open" and rng.random() < 0.5
            last_in = (answer_at or first_at) + timedelta(minutes=rng.uniform(1, 90)) if follow_up else first_at
            last_in = min(last_in, now)
            kind = rng.choices(["mention", "comment", "dm"], weights=[5, 3, 2])[0]
            visibility = "private" if kind == "dm" else "public"
            preview_text = rng.choice(FOLLOW_UPS[language]) if follow_up else text
            conv_rows.append({
                "id": cid, "account_id": account.id, "kind": visibility, "thread_key": f"seed:{cid}",
                "contact_id": contact["id"], "team_id": team.id if team else None, "assignee_id": assignee,
                "status": status, "priority": rng.choices([0, 1, 2, 3], weights=[10, 80, 8, 2])[0],
                "language": language, "subject": text[:200], "last_message_preview": preview_text[:200],
                "routed_by": "channel account default team" if routed else "",
                "first_inbound_at": first_at, "first_response_at": answer_at,
                "last_inbound_at": last_in, "last_message_at": max(last_in, answer_at or last_in),
                "routed_at": first_at + timedelta(seconds=1) if routed else None,
                "resolved_at": (answer_at or first_at) + timedelta(hours=2) if status == "resolved" else None,
                "created_at": first_at, "updated_at": max(last_in, answer_at or last_in),
            })
            message_id += 1
            msg_rows.append(_message(message_id, cid, account.id, contact["id"], "in", kind, visibility,
                                     f"seed-{cid}-1", text, first_at))
            if answered:
                message_id += 1
                msg_rows.append(_message(message_id, cid, account.id, None, "out",
                                         "dm" if visibility == "private" else "reply", visibility,
                                         f"seed-{cid}-2", ANSWERS[language], answer_at,
                                         author_user_id=assignee or officers[teams[0].id][0]))
            if rng.random() < 0.15:
                tag_rows.append({"id": len(tag_rows) + 1, "conversation_id": cid, "tag_id": rng.choice(tags).id})
            if len(conv_rows) >= 20_000:
                copy_rows(Conversation, conv_rows)
                copy_rows(Message, msg_rows)
                conv_rows, msg_rows = [], []
        copy_rows(Conversation, conv_rows)
        copy_rows(Message, msg_rows)
        copy_rows(Conversation.tags.through, tag_rows)
        _sequences_reset(Contact, Conversation, Message, Conversation.tags.through)
    with connection.cursor() as cursor:
        # Fresh statistics, as autovacuum would have after a real day of traffic.
        cursor.execute("ANALYZE")
    return {
        "conversations": conversations, "contacts": n_contacts, "messages": message_id,
        "tagged": len(tag_rows), "by_status": counts, "teams": len(teams),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _message(pk, conversation_id, account_id, contact_id, direction, kind, visibility, external_id,
             text, at, *, author_user_id=None) -> dict:
    return {
        "id": pk, "uuid": uuid.UUID(int=pk), "conversation_id": conversation_id, "account_id": account_id,
        "direction": direction, "kind": kind, "visibility": visibility, "external_id": external_id,
        "in_reply_to": "", "author_contact_id": contact_id, "author_user_id": author_user_id,
        "text": text, "attachments": [], "sent_at": at, "received_at": at, "raw_event_id": None,
        "delivery_status": "sent" if direction == "out" else "", "delivered_at": at if direction == "out" else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description="Seed the bench database with a large inbox.")
    p.add_argument("--conversations", type=int, default=100_000)
    args = p.parse_args()
    env = apply_environ()
    database_ensure(env["DATABASE_URL"])
    manage("migrate", "--noinput", "-v", "0", env=env)
    django_setup()
    result = seed(args.conversations)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
