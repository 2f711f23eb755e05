"""The SLA scan: warnings, breaches and escalations once, under repeated and concurrent scans;
nothing at night for a closed service; notifications live and by e-mail."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from config.celery import app as celery_app
from inbox.models import ChannelAccount, Conversation
from routing import sla
from routing.models import ServiceCalendar, SlaClock, SlaEvent, SlaPolicy
from routing.sla_scan import sla_scan
from tests.conftest import committed, post_sim, sim_body, sim_event

MADRID = ZoneInfo("Europe/Madrid")


def at(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=MADRID)


@pytest.fixture
def x_calendar(db):
    return ServiceCalendar.objects.create(
        name="012 X", timezone="Europe/Madrid",
        periods=[{"weekday": d, "opens": "08:00", "closes": "17:00"} for d in range(5)],
        holidays_country="ES", holidays_subdivision="CT",
    )


@pytest.fixture
def account(sim_account, x_calendar):
    sim_account.calendar = x_calendar
    sim_account.save(update_fields=["calendar"])
    return sim_account


@pytest.fixture
def policy(db, team_b):
    return SlaPolicy.objects.create(
        name="Default", first_response_minutes=120, warn_at=[75, 90],
        escalations=[{"at": 100, "action": "notify_supervisors"}, {"at": 100, "action": "raise_priority"},
                     {"at": 150, "action": "reassign", "team": team_b.slug}],
    )


def deliver(n, when, **kw):
    post_sim(Client(), sim_body([sim_event(n, at=when, **kw)]))


def kinds(conversation=None):
    qs = SlaEvent.objects.exclude(kind="start").order_by("at", "id")
    if conversation is not None:
        qs = qs.filter(conversation=conversation)
    return list(qs.values_list("kind", "level"))


@pytest.mark.django_db
def test_warnings_breach_and_escalations_each_once(account, policy, alice, carol, team_a, team_b):
    deliver(1, at(2026, 10, 19, 10, 0))  # Monday 10:00: due 12:00
    conversation = Conversation.objects.get()
    assert conversation.assignee == alice

    r = committed(sla_scan, now=at(2026, 10, 19, 11, 0))
    assert (r.clocks, r.events) == (0, 0)  # nothing due yet: not even looked at

    r = committed(sla_scan, now=at(2026, 10, 19, 11, 31))
    assert kinds() == [("warning", 75)]
    assert r.notifications == 1  # the assignee
    conversation.refresh_from_db()
    assert conversation.sla_state == "at_risk"

    committed(sla_scan, now=at(2026, 10, 19, 11, 50))
    committed(sla_scan, now=at(2026, 10, 19, 11, 50))  # again: nothing new
    assert kinds() == [("warning", 75), ("warning", 90)]

    r = committed(sla_scan, now=at(2026, 10, 19, 12, 1))
    assert kinds() == [("warning", 75), ("warning", 90), ("breach", 0), ("escalation", 0), ("escalation", 1)]
    breach = SlaEvent.objects.get(kind="breach")
    assert breach.at == at(2026, 10, 19, 12, 0)  # dated at its true instant, not the scan's
    conversation.refresh_from_db()
    assert (conversation.sla_state, conversation.priority) == ("breached", Conversation.Priority.HIGH)
    clock = SlaClock.objects.get()
    assert (clock.state, clock.breached_at) == ("breached", at(2026, 10, 19, 12, 0))
    # The breach told alice, the escalation told the supervisor carol.
    assert r.notifications == 2

    # 150 %: reassigned to team B, unassigned; then nothing is left to do for this clock.
    committed(sla_scan, now=at(2026, 10, 19, 13, 1))
    conversation.refresh_from_db()
    assert (conversation.team, conversation.assignee) == (team_b, None)
    assert clock.__class__.objects.get().next_check_at is None
    for _ in range(3):
        committed(sla_scan, now=at(2026, 10, 19, 16, 0))
    assert kinds().count(("escalation", 2)) == 1
    assert SlaEvent.objects.exclude(kind="start").count() == 6


@pytest.mark.django_db
def test_a_breach_at_closing_time_waits_for_the_morning(account, alice):
    SlaPolicy.objects.create(name="Quiet", first_response_minutes=120, warn_at=[], escalations=[])
    deliver(1, at(2026, 10, 19, 15, 0))  # due 17:00 sharp, when the X service closes
    r = committed(sla_scan, now=at(2026, 10, 19, 17, 0))
    assert (r.events, r.deferred) == (0, 1)
    assert SlaClock.objects.get().next_check_at == at(2026, 10, 20, 8, 0)
    assert committed(sla_scan, now=at(2026, 10, 19, 23, 0)).events == 0
    r = committed(sla_scan, now=at(2026, 10, 20, 8, 0))
    assert (r.events, r.notifications) == (1, 1)
    assert SlaEvent.objects.get(kind="breach").at == at(2026, 10, 19, 17, 0)


@pytest.mark.django_db
def test_a_policy_may_notify_outside_hours(account, alice):
    SlaPolicy.objects.create(name="Loud", first_response_minutes=120, warn_at=[], escalations=[],
                             notify_outside_hours=True)
    deliver(1, at(2026, 10, 19, 15, 0))
    assert committed(sla_scan, now=at(2026, 10, 19, 17, 30)).events == 1


@pytest.mark.django_db
def test_paused_and_met_clocks_are_not_scanned(account, policy, alice):
    deliver(1, at(2026, 10, 19, 10, 0))
    Conversation.objects.update(status=Conversation.Status.PENDING)
    sla.conversations_sync(Conversation.objects.values_list("id", flat=True), now=at(2026, 10, 19, 10, 30))
    assert committed(sla_scan, now=at(2026, 10, 21, 10, 0)).clocks == 0


@pytest.mark.django_db
def test_notifications_reach_the_user_group_live_and_by_email(account, policy, alice, settings):
    settings.EMAIL_HOST = "smtp.example.org"
    alice.email = "alice@example.org"
    alice.save()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"user-{alice.id}", channel)
    try:
        deliver(1, at(2026, 10, 19, 10, 0))
        committed(sla_scan, now=at(2026, 10, 19, 11, 31))
        message = async_to_sync(layer.receive)(channel)
    finally:
        async_to_sync(layer.group_discard)(f"user-{alice.id}", channel)
    conversation = Conversation.objects.get()
    assert message["type"] == "sla.notification"
    [item] = message["items"]
    assert (item["conversation"], item["event"], item["percent"]) == (conversation.id, "warning", 75)
    assert "text" not in item and "subject" not in item  # ids and figures, no citizen data
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.org"] and "75" in mail.outbox[0].subject


@pytest.mark.django_db
def test_scan_queries_do_not_grow_with_the_clocks(account, policy, alice):
    # The scan's own queries (its after-commit notifications are counted by the tests above).
    for n in range(1, 4):
        deliver(n, at(2026, 10, 19, 10, 0))
    with CaptureQueriesContext(connection) as small:
        sla_scan(now=at(2026, 10, 19, 11, 31))
    for n in range(10, 40):
        deliver(n, at(2026, 10, 19, 10, 0))
    with CaptureQueriesContext(connection) as large:
        sla_scan(now=at(2026, 10, 19, 11, 31))
    def data(ctx):  # savepoints are transaction control, not work
        return [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]

    assert len(data(small)) == len(data(large)) <= 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_scans_record_and_notify_each_step_once(team_a, alice, carol):
    calendar = ServiceCalendar.objects.create(name="24/7", always_open=True)
    account = ChannelAccount.objects.create(platform="simulator", external_id="city-sim", name="City",
                                            default_team=team_a, calendar=calendar)
    SlaPolicy.objects.create(name="Default", first_response_minutes=120,
                             escalations=[{"at": 100, "action": "notify_supervisors"}])
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        start = at(2026, 10, 19, 10, 0)
        post_sim(Client(), sim_body([sim_event(n, at=start + timedelta(seconds=n)) for n in range(60)],
                                    account_id=account.external_id))
    finally:
        celery_app.conf.task_always_eager = previous
    assert SlaClock.objects.count() == 60
    now = at(2026, 10, 19, 13, 0)
    results, errors = [], []
    barrier = threading.Barrier(4)

    def scan():
        try:
            barrier.wait()
            for _ in range(3):
                results.append(sla_scan(now=now, batch_size=7))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # Per clock: warnings 75 and 90, the breach and one escalation: 4 steps, once each.
    assert SlaEvent.objects.exclude(kind="start").count() == 60 * 4
    assert sum(r.events for r in results) == 60 * 4
    # Warnings and the breach tell alice (3), the escalation tells carol (1).
    assert sum(r.notifications for r in results) == 60 * 4
    assert set(Conversation.objects.values_list("sla_state", flat=True)) == {"breached"}


# --- e-mail: configured from the environment, sent over SMTP ----------------------------------


class _SMTPHandler:
    """Just enough SMTP (RFC 5321) to receive what Django's SMTP backend sends."""

    def __init__(self, received):
        self.received = received

    def __call__(self, connection_socket):
        reader = connection_socket.makefile("rb")

        def send(line: str) -> None:
            connection_socket.sendall(line.encode() + b"\r\n")

        send("220 test ESMTP")
        message = {"from": None, "to": [], "data": b""}
        while True:
            line = reader.readline()
            if not line:
                return
            verb = line.decode().strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                send("250 test")
            elif verb == "MAIL":
                message = {"from": line.decode().strip(), "to": [], "data": b""}
                send("250 OK")
            elif verb == "RCPT":
                message["to"].append(line.decode().strip())
                send("250 OK")
            elif verb == "DATA":
                send("354 go on")
                data = b""
                while (chunk := reader.readline()) not in (b".\r\n", b""):
                    data += chunk
                message["data"] = data
                self.received.append(message)
                send("250 OK")
            elif verb == "QUIT":
                send("221 bye")
                return
            else:
                send("250 OK")


@pytest.fixture
def smtp_server():
    import socket

    received: list[dict] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    handler = _SMTPHandler(received)

    def serve():
        while True:
            try:
                conn, _addr = server.accept()
            except OSError:
                return
            with conn:
                handler(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    server.close()


def test_email_settings_come_from_the_environment(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(PYTHONPATH=str(root), DJANGO_SETTINGS_MODULE="config.settings", DEBUG="true", VAR_DIR=str(tmp_path),
               EMAIL_HOST="smtp.example.org", EMAIL_PORT="2525", EMAIL_HOST_USER="inbox",
               EMAIL_USE_TLS="false", DEFAULT_FROM_EMAIL="Citizen Inbox <inbox@example.org>")
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    env["EMAIL_HOST_PASSWORD_FILE"] = str(secret)
    script = ("import django; django.setup(); from django.conf import settings as s; "
              "print(s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD, s.EMAIL_USE_TLS); "
              "print(s.DEFAULT_FROM_EMAIL)")
    done = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["smtp.example.org 2525 inbox s3cret False",
                                        "Citizen Inbox <inbox@example.org>"]
    env["EMAIL_USE_TLS"] = "sometimes"
    bad = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert bad.returncode != 0 and "EMAIL_USE_TLS" in bad.stderr


@pytest.mark.django_db
def test_without_an_email_host_nothing_is_mailed(account, policy, alice, settings):
    settings.EMAIL_HOST = ""
    alice.email = "alice@example.org"
    alice.save()
    deliver(1, at(2026, 10, 19, 10, 0))
    assert committed(sla_scan, now=at(2026, 10, 19, 11, 31)).notifications == 1
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_batch_of_notifications_is_one_email_per_user_over_smtp(account, policy, alice, settings, smtp_server):
    port, received = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "inbox@example.org"
    settings.SITE_URL = "https://inbox.example.org"
    alice.email = "alice@example.org"
    alice.save()
    for n in range(1, 4):
        deliver(n, at(2026, 10, 19, 10, 0))
    assert committed(sla_scan, now=at(2026, 10, 19, 11, 31)).notifications == 3
    [message] = received
    assert "inbox@example.org" in message["from"] and "alice@example.org" in message["to"][0]
    body = message["data"].decode()
    assert "Subject: 3 conversations need attention" in body
    ids = sorted(Conversation.objects.values_list("id", flat=True))
    for conversation_id in ids:
        assert f"https://inbox.example.org/inbox/c/{conversation_id}/" in body
