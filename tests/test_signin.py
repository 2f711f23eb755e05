"""The sign-in page around the password: the warning before the last allowed attempt, the
audit of every sign-in and failure, the "you have signed out" page, and sessions that end
after SESSION_IDLE_MINUTES without activity (inbox/security/)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import Client

from inbox.models import AuditEvent
from inbox.security.services import ACTIVITY_KEY
from tests.conftest import PASSWORD, login

pytestmark = pytest.mark.django_db

WARNING = "One attempt left before the account is locked for"


def fail(client: Client, username: str = "alice"):
    return client.post("/login/", {"username": username, "password": "not-" + PASSWORD})


def test_the_page_warns_before_the_last_allowed_attempt(alice):
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 2):
        assert WARNING not in fail(client).content.decode()

    warned = fail(client).content.decode()  # one attempt left now

    assert f"{WARNING} {settings.LOGIN_COOLOFF_MINUTES} minutes." in warned
    locked = fail(client)
    assert "Sign-in paused" in locked.content.decode() and WARNING not in locked.content.decode()
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code != 302
    failures = AuditEvent.objects.filter(verb="auth.login_failed", target_id=str(alice.pk)).order_by("id")
    assert failures.count() == limit + 1
    assert failures.last().data["locked_out"] is True and failures.first().data["locked_out"] is False
    assert all(e.actor_id is None for e in failures)


def test_another_users_failures_do_not_warn(alice, bob):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 2):
        fail(client, "alice")
    assert WARNING not in fail(client, "bob").content.decode()


def test_sign_in_and_failure_with_an_unknown_name_are_audited(alice):
    client = Client(REMOTE_ADDR="203.0.113.9")
    fail(client, "nobody-here")
    client.post("/login/", {"username": "alice", "password": PASSWORD})

    unknown = AuditEvent.objects.get(verb="auth.login_failed")
    assert unknown.target_id == "" and unknown.data["username"] == "nobody-here" and unknown.data["ip"] == "203.0.113.9"
    signed_in = AuditEvent.objects.get(verb="auth.login")
    assert signed_in.actor == alice and signed_in.target_id == str(alice.pk)


def test_signing_out_shows_the_signed_out_page(alice):
    client = login(alice)
    response = client.post("/logout/", follow=True)

    assert response.redirect_chain == [("/signed-out/", 302)]
    page = response.content.decode()
    assert "You have signed out" in page and 'href="/login/"' in page
    assert client.get("/inbox/")["Location"] == "/login/?next=/inbox/"
    assert AuditEvent.objects.get(verb="auth.logout").actor == alice


def idle_for(client: Client, seconds: int) -> None:
    session = client.session
    session[ACTIVITY_KEY] = int(time.time()) - seconds
    session.save()


def test_a_session_idle_for_too_long_ends(alice, settings):
    settings.SESSION_IDLE_MINUTES = 30
    client = login(alice)
    idle_for(client, 30 * 60 - 5)
    assert client.get("/inbox/").status_code == 200  # just inside: and the activity counts

    idle_for(client, 30 * 60 + 5)
    response = client.get("/inbox/c/1/")

    assert response.status_code == 302 and response["Location"] == "/login/?next=%2Finbox%2Fc%2F1%2F"
    page = client.get(response["Location"]).content.decode()
    assert "You were signed out after 30 minutes without activity" in page
    assert client.get("/inbox/")["Location"].startswith("/login/")
    ended = AuditEvent.objects.get(verb="auth.logout")
    assert ended.actor == alice and ended.data["reason"] == "idle"


def test_the_idle_time_counts_from_the_users_last_request(alice, settings):
    settings.SESSION_IDLE_MINUTES = 30
    client = login(alice)
    idle_for(client, 29 * 60)
    client.get("/inbox/")  # the user clicks: the clock starts again
    assert time.time() - client.session[ACTIVITY_KEY] < 5


def test_background_requests_do_not_keep_a_session_alive(alice, settings):
    settings.SESSION_IDLE_MINUTES = 30
    client = login(alice)
    idle_for(client, 29 * 60)
    before = client.session[ACTIVITY_KEY]

    client.get("/inbox/", headers={"X-Requested-With": "fetch"})  # a live poll of an open page
    client.post("/presence/heartbeat/")

    assert client.session[ACTIVITY_KEY] == before


def test_an_api_request_in_an_idle_session_is_refused_in_json(alice, settings):
    client = login(alice)
    idle_for(client, settings.SESSION_IDLE_MINUTES * 60 + 1)

    response = client.get("/api/v1/conversations/")

    assert response.status_code == 401 and "without activity" in response.json()["detail"]


def test_the_activity_is_written_at_most_once_a_minute(alice):
    client = login(alice)
    client.get("/account/security/")  # warm
    stamp = client.session[ACTIVITY_KEY]
    client.get("/account/security/")
    assert client.session[ACTIVITY_KEY] == stamp
