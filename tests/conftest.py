"""The standard cast: an officer of the team, an officer of another team, a supervisor,
an admin and anonymous; plus helpers to deliver signed simulator webhooks."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client, TestCase
from django.utils import timezone

from channels_adapters.pipeline import WAKEUP_KEY
from channels_adapters.simulator.webhook import SIGNATURE_HEADER, sign
from config.celery import app as celery_app
from inbox.models import ChannelAccount, OfficerProfile, Team
from inbox.permissions import ADMIN, OFFICER, SUPERVISOR, team_member_add

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True, scope="session")
def fresh_cache():
    """A new test database reuses ids from 1: counts cached by id in an earlier run (the
    approvals link's per-team count, rate-limit windows) must not leak into this one."""
    cache.clear()


@pytest.fixture(autouse=True)
def eager_tasks():
    """Tasks run in-process in most tests; tests/test_celery_worker.py runs a real worker."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous
    cache.delete(WAKEUP_KEY)  # a test that queued a wakeup without a worker must not leave it


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """The cast's passwords are hashed at every setup; PBKDF2 would dominate the run."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def committed(func, *args, **kwargs):
    """Call ``func`` as a request would be served: run its on-commit work (tasks) afterwards."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return func(*args, **kwargs)


@pytest.fixture
def team_a(db):
    return Team.objects.create(name="Mobility", slug="mobility")


@pytest.fixture
def team_b(db):
    return Team.objects.create(name="Waste & cleaning", slug="waste")


def _user(django_user_model, username, **extra):
    return django_user_model.objects.create_user(username=username, password=PASSWORD, **extra)


@pytest.fixture
def alice(db, django_user_model, team_a):
    """Officer of team A, available (presence: she has the inbox open)."""
    user = _user(django_user_model, "alice")
    team_member_add(team_a, user, OFFICER)
    make_available(user)
    return user


def make_available(user, *, languages: list[str] | None = None) -> None:
    """As if the officer chose "available" and had a page open just now."""
    OfficerProfile.objects.update_or_create(user=user, defaults={
        "status": OfficerProfile.Presence.AVAILABLE, "last_seen_at": timezone.now(),
        **({"languages": languages} if languages is not None else {}),
    })


@pytest.fixture
def bob(db, django_user_model, team_b):
    """Officer of team B (available): must never see team A's conversations."""
    user = _user(django_user_model, "bob")
    team_member_add(team_b, user, OFFICER)
    make_available(user)
    return user


@pytest.fixture
def carol(db, django_user_model, team_a, team_b):
    """Supervisor of both teams (object permissions on each, nothing global)."""
    user = _user(django_user_model, "carol")
    for team in (team_a, team_b):
        team_member_add(team, user, SUPERVISOR)
    return user


@pytest.fixture
def dave(db, django_user_model):
    """Admin."""
    user = _user(django_user_model, "dave", is_staff=True, is_superuser=True)
    user.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    return user


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    signed_in_with_second_factor(client, user)
    return client


def signed_in_with_second_factor(client: Client, user) -> None:
    """Leave the session as a full sign-in would (inbox/security/): the second factor given by
    those who have or need one (an authenticator is made for them), activity just now."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from inbox.security.services import ACTIVITY_KEY, STATE_KEY, totp_device, two_factor_required

    session = client.session
    required, device = two_factor_required(user), totp_device(user)
    if required and device is None:
        device = TOTPDevice.objects.create(user=user, name="Test authenticator", confirmed=True)
    if device is not None:
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[STATE_KEY] = {"required": required, "enrolled": device is not None}
    session[ACTIVITY_KEY] = int(time.time())
    session.save()


@pytest.fixture(autouse=True)
def two_factor_enrolment_deferred_for_browsers(request, settings):
    """Browser tests sign in through the login page with a password, as the demo does: the
    enrolment of admins and supervisors is deferred there (a reminder on every page), as
    TWO_FACTOR_DEFER_ENROLMENT does. The sign-in tests (tests/test_two_factor*.py) turn it
    back on; every other test runs with the production setting."""
    if request.node.get_closest_marker("browser"):
        settings.TWO_FACTOR_DEFER_ENROLMENT = True


@pytest.fixture
def sim_account(db, team_a):
    return ChannelAccount.objects.create(
        platform="simulator", external_id="city-sim", name="City (simulated)", handle="city", default_team=team_a
    )


def sim_event(n: int, *, thread: str | None = None, channel: str = "mention", text: str | None = None,
              author: str = "citizen-1", at: datetime | None = None, type: str = "message") -> dict:
    at = at or datetime(2026, 11, 20, 9, 0, tzinfo=UTC) + timedelta(minutes=n)
    return {
        "type": type, "id": f"m{n}", "thread_id": thread or f"t{n}", "channel": channel,
        "from": {"id": author, "handle": f"h-{author}", "name": f"Citizen {author}"},
        "text": text if text is not None else f"El bus 24 no ha pasado, mensaje {n}",
        "created_at": at.isoformat(),
    }


def sim_body(events: list[dict], account_id: str = "city-sim") -> bytes:
    return json.dumps({"account_id": account_id, "events": events}).encode()


def post_sim(client: Client, body: bytes, *, signature: str | None = None):
    headers = {SIGNATURE_HEADER: signature if signature is not None else sign(body)}
    return committed(
        client.post, "/webhooks/simulator/", data=body, content_type="application/json", headers=headers
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Drop the test database cleanly: threads of the live-server, websocket and worker tests
    (asgiref's executors) may still hold a connection to it when the session ends."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
