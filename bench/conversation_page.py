"""Conversation page benchmark: 200 messages, a Person with 20 earlier conversations on three
channels, the reply library and a background of other citizens.

Seeds its own database (``citizen_inbox_bench_conversation`` unless ``DATABASE_URL`` says
otherwise) with the ORM, then measures server time in-process with Django's test Client (no
network, no browser) as p50/p95 over many requests, and the SQL queries per request, which
must not change with the number of messages, conversations or channels (the same page for a
citizen with one conversation is measured too). Also the composer's saved-reply search and
insert endpoints. Finally EXPLAIN ANALYZE of the citizen card's queries.

    .venv/bin/python bench/conversation_page.py [--requests 200] [--background 50000] [--reseed]

Budget (issue 11): p95 under 40 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/citizen_inbox_bench_conversation")

from bench.common import (
    apply_environ,
    database_ensure,
    django_setup,
    manage,
    percentile,
    results_write,
    table,
)

BUDGET_P95_MS = 40.0
MESSAGES = 200
EARLIER = 20
MARKER = "bench-conv"


def arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200, help="timed requests per case")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--background", type=int, default=50_000, help="other citizens, each with a conversation")
    p.add_argument("--reseed", action="store_true")
    return p.parse_args()


def seeded() -> bool:
    from inbox.models import Team

    return Team.objects.filter(slug=MARKER).exists()


def seed(background: int) -> dict:
    """The officer's team, three channels, the Person, the long conversation, the library."""
    from datetime import UTC, datetime, timedelta

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from inbox.models import (
        ChannelAccount,
        Contact,
        Conversation,
        Message,
        MessageRevision,
        Person,
        SavedReply,
        SavedReplyVersion,
        Team,
    )
    from inbox.permissions import OFFICER, team_member_add
    from routing.models import ServiceCalendar

    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    with transaction.atomic():
        Message.objects.all().delete()
        Conversation.objects.all().delete()
        Contact.objects.all().delete()
        Person.objects.all().delete()
        SavedReply.objects.all().delete()
        team = Team.objects.create(name="Mobility", slug=MARKER)
        other_team = Team.objects.create(name="Waste", slug=f"{MARKER}-waste")
        officer = get_user_model().objects.create_user(username=f"{MARKER}-officer", password="x", first_name="Laia")
        team_member_add(team, officer, OFFICER)
        calendar = ServiceCalendar.objects.create(name=f"{MARKER} hours", periods=[
            {"weekday": d, "opens": "08:00", "closes": "20:00"} for d in range(5)])
        accounts = [
            ChannelAccount.objects.create(platform=p, external_id=f"{MARKER}-{p}", name=f"City on {p}",
                                          default_team=team, calendar=calendar, default_language="ca")
            for p in ("x", "facebook", "telegram")
        ]
        person = Person.objects.create(display_name="Marta Puig", notes="Prefers Catalan.")
        contacts = [
            Contact.objects.create(platform=a.platform, external_id=f"marta-{a.platform}", name="Marta Puig",
                                   handle="martapuig" if a.platform != "facebook" else "", person=person)
            for a in accounts
        ]
        # The long conversation: 200 messages, a tenth of them edited.
        main = Conversation.objects.create(account=accounts[0], contact=contacts[0], kind="public", thread_key="main",
                                           team=team, assignee=officer, status="open", language="ca",
                                           subject="El bus 24 no passa", first_inbound_at=now - timedelta(days=2),
                                           last_inbound_at=now, last_message_at=now)
        messages = []
        for i in range(MESSAGES):
            inbound = i % 2 == 0
            messages.append(Message(
                conversation=main, account=accounts[0], direction="in" if inbound else "out",
                kind="mention" if inbound else "reply", visibility="public",
                external_id=f"m{i}" if inbound else None, author_contact=contacts[0] if inbound else None,
                author_user=None if inbound else officer, text=f"Missatge {i}: el bus 24 encara no ha passat.",
                sent_at=now - timedelta(minutes=2 * (MESSAGES - i)),
                delivery_status="" if inbound else "sent",
            ))
        Message.objects.bulk_create(messages)
        MessageRevision.objects.bulk_create(
            MessageRevision(message=m, action="edit", previous_text="abans", occurred_at=now)
            for m in Message.objects.filter(conversation=main, direction="in")[:20]
        )
        # Twenty earlier conversations of the same Person on three channels, two of another team.
        for i in range(EARLIER):
            account, contact = accounts[i % 3], contacts[i % 3]
            conversation = Conversation.objects.create(
                account=account, contact=contact, kind="private", thread_key=f"earlier-{i}",
                team=other_team if i in (5, 11) else team, status="resolved", subject=f"Consulta {i}",
                created_at=now - timedelta(days=10 + i), last_inbound_at=now - timedelta(days=10 + i),
            )
            Message.objects.create(conversation=conversation, account=account, direction="in", kind="dm",
                                   visibility="private", external_id=f"e{i}", author_contact=contact,
                                   text="Hola", sent_at=now - timedelta(days=10 + i))
        # Other citizens: contacts and conversations (the suggestions search among them).
        batch = 5000
        for start in range(0, background, batch):
            rows = [Contact(platform=("x", "facebook", "telegram")[n % 3], external_id=f"bg-{n}",
                            name=f"Citizen {n} Surname{n % 997}", handle=f"citizen{n}")
                    for n in range(start, min(start + batch, background))]
            Contact.objects.bulk_create(rows)
            created = list(Contact.objects.filter(external_id__in=[c.external_id for c in rows]).only("id", "platform"))
            by_platform = {a.platform: a for a in accounts}
            Conversation.objects.bulk_create(
                Conversation(account=by_platform[c.platform], contact_id=c.pk, kind="private", thread_key=f"bg-{c.pk}",
                             team=team, status="resolved", subject="Consulta", last_inbound_at=now - timedelta(days=30))
                for c in created
            )
        # Three near namesakes: one same name on Telegram, one same handle, one unrelated.
        for n, (platform, name, handle) in enumerate([("telegram", "Marta Puig", ""), ("facebook", "M.", "martapuig"),
                                                      ("x", "Marta", "marta")]):
            c = Contact.objects.create(platform=platform, external_id=f"twin-{n}", name=name, handle=handle)
            Conversation.objects.create(account=accounts[("x", "facebook", "telegram").index(platform)], contact=c,
                                        kind="private", thread_key=f"twin-{n}", team=team, status="resolved")
        # The library: 60 saved replies, each with two versions.
        for i in range(60):
            reply = SavedReply.objects.create(title=f"Resposta {i}", body=f"Hello {{citizen_name}}, answer {i}.",
                                              language="en", kind=SavedReply.Kind.values[i % 9],
                                              team=team if i % 2 else None)
            SavedReplyVersion.objects.bulk_create([
                SavedReplyVersion(saved_reply=reply, language="ca", body=f"Hola {{citizen_name}}, resposta {i}."),
                SavedReplyVersion(saved_reply=reply, language="es", body=f"Hola {{citizen_name}}, respuesta {i}."),
            ])
        # A citizen with a single conversation and nothing else (for the query count).
        lone = Contact.objects.create(platform="x", external_id="lone", name="Pau Soler", handle="pausoler")
        Conversation.objects.create(account=accounts[0], contact=lone, kind="public", thread_key="lone", team=team,
                                    status="open", subject="Una pregunta", last_inbound_at=now)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"seconds": round(time.perf_counter() - started, 1), "background": background}


def timed(func, n: int, warmup: int) -> tuple[list[float], list[float]]:
    """Wall time and this process's CPU time per request, in ms. On a shared machine (a load
    average above the number of cores) wall time mostly measures waiting for a core; CPU time
    is what the request itself cost the Django process (SQL runs in PostgreSQL, outside it)."""
    for _ in range(warmup):
        func()
    wall, cpu = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        func()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - t) * 1000)
    return wall, cpu


def captured(func) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        func()
    return [q["sql"] for q in ctx.captured_queries]


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> int:
    args = arguments()
    env = apply_environ()
    database_ensure(env["DATABASE_URL"])
    manage("migrate", "--noinput", "-v", "0", env=env)
    django_setup()

    from django.contrib.auth import get_user_model
    from django.test import Client

    from inbox.models import Conversation, SavedReply
    from tests.conftest import signed_in_with_second_factor

    seeding = None
    if args.reseed or not seeded():
        print(f"seeding (background of {args.background:,} citizens) ...", flush=True)
        seeding = seed(args.background)
        print(f"  seeded in {seeding['seconds']} s", flush=True)

    officer = get_user_model().objects.get(username=f"{MARKER}-officer")
    client = Client()
    client.force_login(officer)
    signed_in_with_second_factor(client, officer)
    main_conv = Conversation.objects.get(thread_key="main")
    lone = Conversation.objects.get(thread_key="lone")
    saved = SavedReply.objects.filter(team__isnull=True).order_by("id").first()
    counts = {
        "messages": main_conv.messages.count(),
        "person_conversations": Conversation.objects.filter(contact__person=main_conv.contact.person).count() - 1,
        "channels": Conversation.objects.filter(contact__person=main_conv.contact.person)
        .values("account__platform").distinct().count(),
        "conversations": Conversation.objects.count(),
    }
    print(f"{counts}", flush=True)

    def get(url, params=None):
        response = client.get(url, params or {})
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        return response

    page_url = f"/inbox/c/{main_conv.pk}/"
    cases = {
        "page: 200 messages, Person with 20 earlier on 3 channels": lambda: get(page_url),
        "page: a citizen with one conversation": lambda: get(f"/inbox/c/{lone.pk}/"),
        "live fragment (?fragment=live)": lambda: get(page_url, {"fragment": "live"}),
        "composer search ?q=resp": lambda: get(f"/inbox/c/{main_conv.pk}/saved-replies/", {"q": "resp"}),
        "composer insert (text, variables)": lambda: get(f"/inbox/c/{main_conv.pk}/saved-replies/{saved.pk}/text/"),
    }
    html = get(page_url).content.decode()
    assert "Consulta 0" in html and "Consulta 5" not in html, "the card must hide the other team's conversation"
    assert html.count("Missatge ") >= MESSAGES

    results: dict = {"counts": counts, "seeding": seeding, "cases": {}, "load_average_before": os.getloadavg()}
    rows = []
    for name, func in cases.items():
        ms, cpu = timed(func, args.requests, args.warmup)
        queries = [len(captured(func)) for _ in range(3)]
        p50, p95 = percentile(ms, 50), percentile(ms, 95)
        c50, c95 = percentile(cpu, 50), percentile(cpu, 95)
        results["cases"][name] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "max_ms": round(max(ms), 2),
                                  "cpu_p50_ms": round(c50, 2), "cpu_p95_ms": round(c95, 2),
                                  "requests": len(ms), "queries": queries}
        verdict = ("ok" if p95 < BUDGET_P95_MS else "OVER BUDGET") if name.startswith("page") else ""
        q = str(queries[0]) if len(set(queries)) == 1 else f"{queries} (varies!)"
        rows.append((name, f"wall p50 {p50:6.1f} p95 {p95:6.1f} ms · CPU p50 {c50:5.1f} p95 {c95:5.1f} ms · "
                           f"queries {q:>3}  {verdict}"))
    big = results["cases"][next(iter(cases))]["queries"][0]
    small = results["cases"]["page: a citizen with one conversation"]["queries"][0]
    results["query_count_constant"] = big <= small + 2  # the card reads the Person's contacts and last link
    results["load_average_after"] = os.getloadavg()
    rows.append(("queries: full card vs lone citizen", f"{big} vs {small} (the Person's contacts and last link)"))
    rows.append(("load average (1, 5, 15 min)", " ".join(f"{v:.2f}" for v in results["load_average_after"])))

    plans = {}
    for sql in captured(lambda: get(page_url)):
        if "inbox_contact" not in sql and "inbox_personlink" not in sql:
            continue
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        plan = explain(sql)
        took = re.search(r"Execution Time: ([\d.]+) ms", plan)
        plans[sql[:140]] = {"execution_ms": float(took.group(1)) if took else None, "plan": plan}
    results["explain"] = plans

    print()
    print(table(rows, f"Conversation page, {counts['conversations']:,} conversations, {args.requests} requests each "
                      f"(budget p95 < {BUDGET_P95_MS:g} ms)"))
    print("\nEXPLAIN ANALYZE of the citizen card's contact and link queries:")
    for head, info in plans.items():
        print(f"  {info['execution_ms']} ms  {head[:130]}...")
    path = results_write("conversation_page", results)
    print(f"\nwritten to {path.relative_to(path.parents[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
