"""`make run`'s pieces: the demo seed and the simulated citizen feed over real HTTP."""

from __future__ import annotations

import re
import socket
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from channels_adapters.management.commands.rundemo import feed_rate
from inbox.models import Conversation, Message, RawEvent, Team
from inbox.permissions import team_ids_for_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_demo_builds_a_lived_in_inbox_and_is_idempotent(django_user_model):
    call_command("seed_demo", history=30, stdout=StringIO())
    call_command("seed_demo", history=30, stdout=StringIO())

    assert set(Team.objects.values_list("slug", flat=True)) == {"mobility", "waste", "general"}
    assert Message.objects.filter(direction="in").count() == 30
    assert Message.objects.filter(direction="out", delivery_status="sent").exists()
    assert not RawEvent.objects.filter(processed_at__isnull=True).exists()
    officer = django_user_model.objects.get(username="officer")
    assert officer.check_password("citizen-inbox-demo")
    assert len(team_ids_for_user(officer)) == 2
    languages = set(Conversation.objects.values_list("language", flat=True))
    assert len(languages - {""}) >= 4


def test_simulated_citizens_arrive_through_the_webhook(live_server):
    call_command("seed_demo", history=0, stdout=StringIO())
    out = StringIO()

    call_command("simulate_citizens", url=live_server.url, rate=40, duration=1.5, burst_every=0.5,
                 burst_size=5, seed=1, stdout=out)

    delivered = int(out.getvalue().split("Delivered ")[1].split()[0])
    assert "(0 failed)" in out.getvalue()
    assert delivered >= 3  # how many fit in 1.5 s depends on the machine; that they all arrive does not
    assert RawEvent.objects.filter(processed_at__isnull=False).count() == delivered
    assert Message.objects.filter(direction="in").count() >= delivered  # X/Meta shapes may carry one each
    assert not Conversation.objects.filter(team__isnull=True).exists()


def test_seed_demo_gives_its_users_the_new_password_on_every_run(django_user_model, monkeypatch, client):
    monkeypatch.setenv("DEMO_PASSWORD", "first-demo-password")
    call_command("seed_demo", history=0, stdout=StringIO())
    for _ in range(settings.AXES_FAILURE_LIMIT):  # a newcomer trying the old password
        client.post("/login/", {"username": "officer", "password": "first-demo-password?"})
    monkeypatch.setenv("DEMO_PASSWORD", "second-demo-password")

    call_command("seed_demo", history=0, stdout=StringIO(), stderr=StringIO())

    for username in ("admin", "supervisor", "officer", "officer2", "officer3"):
        user = django_user_model.objects.get(username=username)
        assert user.check_password("second-demo-password"), username
    response = client.post("/login/", {"username": "officer", "password": "second-demo-password"})
    assert response.status_code == 302  # signed in: the lockout of the old attempts is cleared


def test_seed_demo_leaves_the_password_of_a_user_it_did_not_create(django_user_model, monkeypatch):
    django_user_model.objects.create_user("admin", email="it@city.example", password="the-real-admin-password")
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password")
    err = StringIO()

    call_command("seed_demo", history=0, stdout=StringIO(), stderr=err)

    assert django_user_model.objects.get(username="admin").check_password("the-real-admin-password")
    assert django_user_model.objects.get(username="officer").check_password("demo-password")
    assert "'admin' was not created by seed_demo" in err.getvalue()


def test_simulated_citizens_target_the_demo_port_and_say_why_deliveries_fail(settings):
    call_command("seed_demo", history=0, stdout=StringIO())
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        settings.PORT = probe.getsockname()[1]
    out, err = StringIO(), StringIO()

    call_command("simulate_citizens", rate=50, duration=0.5, burst_every=0, seed=1, stdout=out, stderr=err)

    target = f"http://127.0.0.1:{settings.PORT}"
    assert f"-> {target}" in out.getvalue()
    failed = int(re.search(r"Delivered 0 messages \((\d+) failed\)", out.getvalue()).group(1))
    assert failed > 0
    assert f"  {failed} × cannot connect to {target} (is the server running on that port?)" in out.getvalue()
    assert err.getvalue().count("Delivery failed:") == 1  # said once, when it first happened


def test_simulated_citizens_report_http_errors_with_status_and_body(live_server):
    call_command("seed_demo", history=0, stdout=StringIO())
    out = StringIO()

    call_command("simulate_citizens", url=f"{live_server.url}/nowhere", rate=50, duration=0.5,
                 burst_every=0, seed=1, stdout=out, stderr=StringIO())

    summary = out.getvalue().split("Delivered 0 messages (")[1]
    failed = int(summary.split(" failed")[0])
    assert failed > 0
    assert f"  {failed} × HTTP 404 Not Found" in summary


@pytest.mark.parametrize(
    ("demo_feed", "demo_rate", "option", "no_feed", "expected"),
    [
        (True, 0.2, None, False, 0.2),      # make run
        (True, 0.5, None, False, 0.5),      # make run DEMO_FEED_RATE=0.5
        (False, 0.2, None, False, 0.0),     # make run DEMO_FEED=off
        (True, 0.0, None, False, 0.0),      # make run DEMO_FEED_RATE=0
        (True, 0.2, 1.5, False, 1.5),       # manage.py rundemo --rate 1.5
        (True, 0.2, None, True, 0.0),       # manage.py rundemo --no-feed
    ],
)
def test_the_demo_feed_takes_a_rate_or_is_off(settings, demo_feed, demo_rate, option, no_feed, expected):
    settings.DEMO_FEED, settings.DEMO_FEED_RATE = demo_feed, demo_rate

    assert feed_rate(option, no_feed=no_feed) == expected
