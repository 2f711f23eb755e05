""""Take" (assign to me): a conditional claim from the queue, the conversation page and the
API — of two officers taking at once one wins and the other is told who took it — within
the team's capacity, for those who may answer for the team, audited."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from itertools import count
from pathlib import Path

import pytest
import yaml
from django.db import close_old_connections, connection, connections, transaction
from django.test import Client

from inbox.models import AuditEvent, ChannelAccount, Contact, Conversation, Team
from inbox.permissions import OFFICER, team_member_add
from routing.assignment import TakeRefused, conversation_take
from tests.conftest import login, make_available

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
_n = count(1)


@pytest.fixture
def account(db, team_a):
    return ChannelAccount.objects.create(platform="simulator", external_id="acc", name="City", default_team=team_a)


def conv(account, team, *, kind="private", status="new", assignee=None) -> Conversation:
    n = next(_n)
    contact = Contact.objects.create(platform="simulator", external_id=f"take-c{n}", name=f"Citizen {n}")
    return Conversation.objects.create(account=account, kind=kind, thread_key=f"take-t{n}", contact=contact,
                                       team=team, status=status, assignee=assignee, subject=f"Question {n}")


def test_take_assigns_an_unassigned_conversation_and_is_audited(account, team_a, alice):
    c = conv(account, team_a)
    conversation_take(conversation=c, user=alice)
    c.refresh_from_db()
    assert c.assignee == alice and c.assigned_at is not None
    audit = AuditEvent.objects.get(verb="conversation.take")
    assert audit.actor == alice and audit.target_id == str(c.pk) and audit.data["assignee"] == alice.id


def test_take_of_a_conversation_someone_holds_says_who(account, team_a, alice, django_user_model):
    erin = django_user_model.objects.create_user("erin", first_name="Erin", last_name="Puig")
    team_member_add(team_a, erin, OFFICER)
    c = conv(account, team_a, assignee=erin)
    stale = Conversation.objects.get(pk=c.pk)
    with pytest.raises(TakeRefused) as caught:
        conversation_take(conversation=stale, user=alice)
    assert caught.value.code == "taken" and caught.value.holder == erin
    assert "Erin Puig took this conversation first" in caught.value.message
    c.refresh_from_db()
    assert c.assignee == erin and not AuditEvent.objects.filter(verb="conversation.take").exists()


def test_take_refuses_closed_conversations_other_teams_and_capacity(account, team_a, team_b, alice, bob):
    with pytest.raises(TakeRefused) as caught:
        conversation_take(conversation=conv(account, team_a, status="resolved"), user=alice)
    assert caught.value.code == "closed"
    with pytest.raises(TakeRefused) as caught:
        conversation_take(conversation=conv(account, team_b), user=alice)  # bob's team, not alice's
    assert caught.value.code == "forbidden"
    Team.objects.filter(pk=team_a.pk).update(capacity_private=1, capacity_public=5)
    team_a.refresh_from_db()
    conversation_take(conversation=conv(account, team_a), user=alice)
    with pytest.raises(TakeRefused) as caught:
        conversation_take(conversation=conv(account, team_a), user=alice)
    assert caught.value.code == "capacity"
    # Public posts are counted apart: she can still take one.
    conversation_take(conversation=conv(account, team_a, kind="public"), user=alice)


@pytest.mark.django_db(transaction=True)
def test_two_officers_taking_at_once_one_wins_the_other_is_told_who(django_user_model):
    """Two real PostgreSQL connections: alice's take holds its transaction open after its
    UPDATE; erin's UPDATE waits on the row lock (seen in pg_locks), then finds the row
    taken once alice commits — never both."""
    team = Team.objects.create(name="Mobility", slug="mobility", assignment=Team.Assignment.MANUAL)
    account = ChannelAccount.objects.create(platform="simulator", external_id="acc", name="City")
    alice = django_user_model.objects.create_user("alice", first_name="Alice")
    erin = django_user_model.objects.create_user("erin", first_name="Erin")
    for user in (alice, erin):
        team_member_add(team, user, OFFICER)
        make_available(user)
    c = conv(account, team)
    alice_updated, alice_may_commit = threading.Event(), threading.Event()
    results: dict[str, object] = {}
    pids: dict[str, int] = {}

    def take(name, user, hold: bool):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids[name] = cursor.fetchone()[0]
            with transaction.atomic():
                conversation_take(conversation=Conversation.objects.get(pk=c.pk), user=user)
                if hold:
                    alice_updated.set()
                    assert alice_may_commit.wait(30)
            results[name] = "won"
        except TakeRefused as exc:
            results[name] = exc
        finally:
            close_old_connections()
            connection.close()

    first = threading.Thread(target=take, args=("alice", alice, True))
    first.start()
    assert alice_updated.wait(30)
    second = threading.Thread(target=take, args=("erin", erin, False))
    second.start()
    # Wait until erin's conditional UPDATE is blocked on alice's row lock: a true race.
    deadline = time.monotonic() + 30
    waiting = False
    while time.monotonic() < deadline and not waiting:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = %s", [pids.get("erin", 0)])
            waiting = cursor.fetchone()[0] > 0
        time.sleep(0.05)
    assert waiting, "erin's take never waited on alice's"
    alice_may_commit.set()
    first.join(30)
    second.join(30)
    assert results["alice"] == "won"
    refused = results["erin"]
    assert isinstance(refused, TakeRefused) and refused.code == "taken" and refused.holder.pk == alice.pk
    assert Conversation.objects.get(pk=c.pk).assignee_id == alice.pk
    assert AuditEvent.objects.filter(verb="conversation.take").count() == 1


@pytest.mark.django_db(transaction=True)
def test_many_officers_racing_for_many_conversations_each_is_taken_once(django_user_model):
    team = Team.objects.create(name="Mobility", slug="mobility", assignment=Team.Assignment.MANUAL,
                               capacity_private=50)
    account = ChannelAccount.objects.create(platform="simulator", external_id="acc", name="City")
    officers = []
    for i in range(4):
        user = django_user_model.objects.create_user(f"o{i}")
        team_member_add(team, user, OFFICER)
        officers.append(user)
    conversations = [conv(account, team) for _ in range(20)]
    barrier = threading.Barrier(4)
    won: list[tuple[int, int]] = []
    errors: list = []

    def grab(user):
        try:
            barrier.wait()
            for c in conversations:
                try:
                    conversation_take(conversation=Conversation.objects.get(pk=c.pk), user=user)
                    won.append((c.pk, user.pk))
                except TakeRefused as exc:
                    assert exc.code == "taken"
        except Exception as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=grab, args=(u,)) for u in officers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(pk for pk, _ in won) == sorted(c.pk for c in conversations)  # each once, none twice
    held = dict(Conversation.objects.values_list("pk", "assignee_id"))
    assert all(held[pk] == user_pk for pk, user_pk in won)
    assert AuditEvent.objects.filter(verb="conversation.take").count() == 20


# --- the web and the API ---------------------------------------------------------------------


def test_queue_rows_have_a_take_button_only_when_unassigned(account, team_a, alice):
    free = conv(account, team_a)
    held = conv(account, team_a, assignee=alice)
    page = login(alice).get("/inbox/?view=team").content.decode()
    assert f'action="/conversations/{free.pk}/take/"' in page
    assert f'action="/conversations/{held.pk}/take/"' not in page


def test_take_from_the_web_redirects_back_with_a_message(account, team_a, alice, django_user_model):
    c = conv(account, team_a)
    client = login(alice)
    response = client.post(f"/conversations/{c.pk}/take/", {"next": "/inbox/?view=unassigned"})
    assert response.status_code == 302 and response["Location"] == "/inbox/?view=unassigned"
    assert Conversation.objects.get(pk=c.pk).assignee == alice
    # Someone else's now: a second officer is told who took it.
    erin = django_user_model.objects.create_user("erin", first_name="Erin")
    team_member_add(team_a, erin, OFFICER)
    other = login(erin)
    page = other.post(f"/conversations/{c.pk}/take/", {"next": "https://evil.example/"}, follow=True)
    assert page.redirect_chain[0][0] == f"/inbox/c/{c.pk}/"  # a foreign "next" is ignored
    assert "took this conversation first" in page.content.decode()
    assert Conversation.objects.get(pk=c.pk).assignee == alice


def test_conversation_page_offers_take_when_unassigned(account, team_a, alice):
    c = conv(account, team_a)
    page = login(alice).get(f"/inbox/c/{c.pk}/").content.decode()
    assert f'action="/conversations/{c.pk}/take/"' in page


def test_api_take_200_then_409_with_who(account, team_a, alice, django_user_model):
    c = conv(account, team_a)
    response = login(alice).post(f"/api/v1/conversations/{c.pk}/take/")
    assert response.status_code == 200, response.content
    assert response.json()["assignee"]["username"] == "alice"
    erin = django_user_model.objects.create_user("erin")
    team_member_add(team_a, erin, OFFICER)
    response = login(erin).post(f"/api/v1/conversations/{c.pk}/take/")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "taken" and body["assignee"]["username"] == "alice"


def test_api_take_of_another_teams_conversation_is_a_404(account, team_b, alice):
    c = conv(account, team_b)
    assert login(alice).post(f"/api/v1/conversations/{c.pk}/take/").status_code == 404
    assert Client().post(f"/api/v1/conversations/{c.pk}/take/").status_code in (401, 403)


def test_take_is_in_the_openapi_schema(tmp_path):
    env = {**os.environ, "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    schema = yaml.safe_load((tmp_path / "s.yml").read_text())
    take = schema["paths"]["/api/v1/conversations/{id}/take/"]["post"]
    assert {"200", "403", "404", "409"} <= set(take["responses"])
    assert "code" in schema["components"]["schemas"]["TakeConflict"]["properties"]
