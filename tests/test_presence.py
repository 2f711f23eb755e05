"""Presence: officers choose available / away / offline; open pages send heartbeats; an
officer whose pages are all closed stops receiving work after the timeout; becoming
available sends the backlog their way. And the teams API (strategy by PATCH)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from inbox.models import AuditEvent, ChannelAccount, Contact, Conversation, OfficerProfile, Team
from inbox.permissions import OFFICER, team_member_add
from routing.assignment import assign_backlog
from routing.presence import HEARTBEAT_WRITE_EVERY, presence_heartbeat, presence_of, presence_set
from tests.conftest import committed, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(django_user_model, team_a):
    user = django_user_model.objects.create_user("olga")
    team_member_add(team_a, user, OFFICER)
    return user


def waiting(team, n=1):
    account = ChannelAccount.objects.get_or_create(platform="simulator", external_id="acc", defaults={"name": "City"})[0]
    out = []
    for i in range(n):
        contact = Contact.objects.create(platform="simulator", external_id=f"w{team.id}-{i}")
        out.append(Conversation.objects.create(account=account, kind="private", thread_key=f"w{team.id}-{i}",
                                               contact=contact, team=team))
    return out


def test_a_new_officer_is_offline_until_they_say_otherwise(officer):
    assert not presence_of(OfficerProfile.objects.filter(user=officer).first()).available


def test_choosing_available_makes_an_open_page_count(officer):
    presence = presence_set(officer, OfficerProfile.Presence.AVAILABLE)
    assert presence.available
    assert AuditEvent.objects.filter(verb="presence.set", actor=officer, data__status="available").exists()
    assert not presence_set(officer, OfficerProfile.Presence.AWAY).available


def test_unknown_presence_is_refused(officer):
    with pytest.raises(ValueError):
        presence_set(officer, "busy")


def test_without_heartbeats_an_available_officer_becomes_unavailable_after_the_timeout(officer, settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 90
    now = timezone.now()
    presence_set(officer, OfficerProfile.Presence.AVAILABLE, now=now)
    profile = OfficerProfile.objects.get(user=officer)
    assert presence_of(profile, now=now + timedelta(seconds=89)).available
    later = presence_of(profile, now=now + timedelta(seconds=91))
    assert not later.available and later.status == "available"  # the choice is kept for when they return
    # A page opened again brings them back without choosing again.
    assert presence_heartbeat(officer, now=now + timedelta(seconds=200)).available


def test_heartbeats_are_written_at_most_every_few_seconds(officer):
    now = timezone.now()
    presence_set(officer, OfficerProfile.Presence.AVAILABLE, now=now)
    presence_heartbeat(officer, now=now + HEARTBEAT_WRITE_EVERY / 2)
    assert OfficerProfile.objects.get(user=officer).last_seen_at == now
    presence_heartbeat(officer, now=now + HEARTBEAT_WRITE_EVERY * 2)
    assert OfficerProfile.objects.get(user=officer).last_seen_at == now + HEARTBEAT_WRITE_EVERY * 2


def test_becoming_available_assigns_the_team_backlog(officer, team_a):
    c = waiting(team_a)[0]
    committed(presence_set, officer, OfficerProfile.Presence.AVAILABLE)  # the sweep runs after commit
    c.refresh_from_db()
    assert c.assignee == officer


def test_coming_back_after_the_timeout_assigns_the_backlog(officer, team_a, settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 90
    presence_set(officer, OfficerProfile.Presence.AVAILABLE)
    OfficerProfile.objects.filter(user=officer).update(last_seen_at=timezone.now() - timedelta(minutes=10))
    c = waiting(team_a)[0]
    assert assign_backlog().assigned == 0
    committed(presence_heartbeat, officer)
    c.refresh_from_db()
    assert c.assignee == officer


# --- Pages and API ---------------------------------------------------------------------------


def test_top_bar_shows_the_presence_choice_and_posts_it(officer):
    client = login(officer)
    page = client.get("/inbox/").content.decode()
    assert 'name="status"' in page and "data-heartbeat-url=\"/presence/heartbeat/\"" in page
    response = client.post("/presence/", {"status": "available", "next": "/inbox/"})
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    assert presence_of(OfficerProfile.objects.get(user=officer)).available
    response = client.post("/presence/", {"status": "away"}, headers={"Accept": "application/json"})
    assert response.json() == {"status": "away", "available": False, "label": "Away"}


def test_the_presence_form_never_redirects_off_site(officer):
    response = login(officer).post("/presence/", {"status": "away", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_heartbeat_endpoint_keeps_presence(officer):
    client = login(officer)
    client.post("/presence/", {"status": "available"})
    OfficerProfile.objects.filter(user=officer).update(last_seen_at=timezone.now() - timedelta(minutes=5))
    assert client.post("/presence/heartbeat/").json() == {"status": "available", "available": True}


def test_presence_needs_a_signed_in_user():
    assert Client().post("/presence/heartbeat/").status_code == 302
    assert Client().post("/api/v1/presence/", {"status": "available"}).status_code in (401, 403)


def test_presence_api(officer):
    client = login(officer)
    assert client.get("/api/v1/presence/").json()["status"] == "offline"
    body = client.post("/api/v1/presence/", {"status": "available"}, content_type="application/json").json()
    assert body["status"] == "available" and body["available"] is True
    assert client.post("/api/v1/presence/", {}, content_type="application/json").json()["available"] is True
    assert client.post("/api/v1/presence/", {"status": "busy"}, content_type="application/json").status_code == 400


def test_team_api_reads_for_members_and_changes_for_admins(team_a, team_b, alice, carol, dave):
    assert login(alice).get("/api/v1/teams/mobility/").json()["assignment"] == "round_robin"
    assert login(alice).get("/api/v1/teams/waste/").status_code == 404
    body = {"assignment": "least_loaded", "capacity_private": 3, "reassign_after_minutes": 20}
    assert login(carol).patch("/api/v1/teams/mobility/", body, content_type="application/json").status_code == 403
    team_a.refresh_from_db()
    assert team_a.assignment == "round_robin"
    response = login(dave).patch("/api/v1/teams/mobility/", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["assignment"] == "least_loaded"
    team_a.refresh_from_db()
    assert (team_a.assignment, team_a.capacity_private, team_a.reassign_after_minutes) == (
        Team.Assignment.LEAST_LOADED, 3, 20)
    assert AuditEvent.objects.filter(verb="team.change", actor=dave).exists()
    bad = login(dave).patch("/api/v1/teams/mobility/", {"capacity_public": 0, "assignment": "fastest"},
                            content_type="application/json")
    assert bad.status_code == 400 and set(bad.json()) >= {"capacity_public", "assignment"}
