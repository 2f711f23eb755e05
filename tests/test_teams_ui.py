"""Teams and people managed in the app: admins create teams, choose the strategy, add a person
in one step (permissions follow the role), set languages, deactivate; supervisors move a
conversation to another team from its page; the admin can take a conversation."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from inbox.models import (
    AuditEvent,
    AutoReplySetting,
    ChannelAccount,
    Conversation,
    OfficerProfile,
    SavedReply,
    Team,
)
from inbox.permissions import OFFICER, REPLY, SUPERVISE, VIEW_QUEUE, role_names, user_has_team_perm
from tests.conftest import login, make_available, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

PAGES = ["/teams/", "/teams/new/", "/teams/mobility/", "/people/", "/automatic-replies/"]


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.parametrize("url", PAGES)
def test_only_admins_see_the_teams_pages(url, team_a, alice, bob, carol, dave, sim_account):
    assert login(dave).get(url).status_code == 200
    for user in (alice, bob, carol):
        assert login(user).get(url).status_code == 403
    response = Client().get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_top_bar_links_the_teams_pages_for_admins_only(team_a, alice, dave):
    assert 'href="/teams/"' in login(dave).get("/inbox/").content.decode()
    assert 'href="/teams/"' not in login(alice).get("/inbox/").content.decode()


def test_admin_creates_a_team_with_its_strategy_and_capacity(dave):
    response = login(dave).post("/teams/new/", {
        "name": "Waste & cleaning", "slug": "", "description": "Bins", "assignment": "least_loaded",
        "capacity_private": 4, "capacity_public": 8, "reassign_after_minutes": 30,
    })
    team = Team.objects.get(name="Waste & cleaning")
    assert response.status_code == 302 and response["Location"] == f"/teams/{team.slug}/"
    assert team.slug == "waste-cleaning"
    assert (team.assignment, team.capacity_private, team.capacity_public, team.reassign_after_minutes) == (
        "least_loaded", 4, 8, 30)
    assert AuditEvent.objects.filter(verb="team.create", actor=dave, target_id=str(team.id)).exists()


def test_invalid_team_form_is_shown_again_and_changes_nothing(team_a, dave):
    response = login(dave).post("/teams/mobility/", {
        "name": "", "assignment": "round_robin", "capacity_private": 0, "capacity_public": 5,
    })
    assert response.status_code == 200
    team_a.refresh_from_db()
    assert team_a.name == "Mobility" and team_a.capacity_private == 5


def test_admin_changes_the_strategy_of_a_team(team_a, dave):
    login(dave).post("/teams/mobility/", {
        "name": "Mobility", "slug": "mobility", "assignment": "manual", "capacity_private": 5, "capacity_public": 10,
    })
    team_a.refresh_from_db()
    assert team_a.assignment == Team.Assignment.MANUAL
    assert AuditEvent.objects.get(verb="team.change").data == {"assignment": "manual"}


def test_adding_a_new_person_as_officer_in_one_step_grants_what_the_role_needs(team_a, team_b, dave):
    response = login(dave).post("/teams/mobility/members/", {
        "username": "marta", "first_name": "Marta", "email": "marta@example.org", "role": "officer",
        "languages": "ca, es",
    })
    assert response.status_code == 302
    marta = get_user_model().objects.get(username="marta")
    assert OFFICER in role_names(marta)
    assert user_has_team_perm(marta, team_a, REPLY) and user_has_team_perm(fresh(marta), team_a, VIEW_QUEUE)
    assert not user_has_team_perm(fresh(marta), team_a, SUPERVISE)
    assert not user_has_team_perm(fresh(marta), team_b, VIEW_QUEUE)
    assert marta.officer_profile.languages == ["ca", "es"]
    assert not marta.has_usable_password()
    assert "Marta" in login(dave).get("/teams/mobility/").content.decode()


def test_an_existing_person_becomes_supervisor_of_another_team(team_b, alice, dave):
    login(dave).post("/teams/waste/members/", {"existing": alice.id, "role": "supervisor"})
    assert user_has_team_perm(fresh(alice), team_b, SUPERVISE)
    assert AuditEvent.objects.filter(verb="team.member_set", actor=dave, data__role="supervisor").exists()


def test_adding_someone_needs_a_person_or_a_new_user_name(team_a, dave, alice):
    before = get_user_model().objects.count()
    login(dave).post("/teams/mobility/members/", {"role": "officer"})
    login(dave).post("/teams/mobility/members/", {"username": "ALICE", "role": "officer"})
    login(dave).post("/teams/mobility/members/", {"username": "x", "role": "officer", "languages": "catalan"})
    assert get_user_model().objects.count() == before


def test_only_admins_add_people(team_a, carol):
    response = login(carol).post("/teams/mobility/members/", {"username": "eve", "role": "supervisor"})
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="eve").exists()


def test_removing_someone_from_a_team_sends_their_conversations_back_to_the_queue(sim_account, team_a, alice, dave):
    post_sim(Client(), sim_body([sim_event(1)]))
    assert Conversation.objects.get().assignee == alice
    login(dave).post(f"/teams/mobility/members/{alice.id}/remove/")
    assert Conversation.objects.get().assignee is None
    assert not user_has_team_perm(fresh(alice), team_a, VIEW_QUEUE)


def test_admin_sets_languages_and_skills(alice, dave):
    login(dave).post(f"/people/{alice.id}/", {"first_name": "Alícia", "languages": "CA es", "skills": "taxes, bins"})
    profile = OfficerProfile.objects.get(user=alice)
    assert profile.languages == ["ca", "es"] and profile.skills == ["taxes", "bins"]
    assert fresh(alice).first_name == "Alícia"


def test_deactivating_a_person_returns_their_open_conversations_to_the_team_queue(sim_account, team_a, alice, dave):
    post_sim(Client(), sim_body([sim_event(1)]))
    response = login(dave).post(f"/people/{alice.id}/active/", {"active": "0"})
    assert response.status_code == 302
    assert not fresh(alice).is_active
    assert Conversation.objects.get().assignee is None
    login(dave).post(f"/people/{alice.id}/active/", {"active": "1"})
    assert fresh(alice).is_active


def test_an_admin_cannot_deactivate_themselves(dave):
    login(dave).post(f"/people/{dave.id}/active/", {"active": "0"})
    assert fresh(dave).is_active


def test_the_admin_can_assign_a_conversation_to_themselves(sim_account, team_a, dave):
    Team.objects.filter(pk=team_a.pk).update(assignment=Team.Assignment.MANUAL)
    post_sim(Client(), sim_body([sim_event(1)]))
    conversation = Conversation.objects.get()
    page = login(dave).get(f"/inbox/c/{conversation.id}/").content.decode()
    assert "Assign to me" in page
    login(dave).post(f"/inbox/c/{conversation.id}/assign/", {"assignee": "me"})
    assert Conversation.objects.get().assignee == dave


def test_an_officer_takes_a_conversation_from_the_team_queue(sim_account, team_a, alice):
    Team.objects.filter(pk=team_a.pk).update(assignment=Team.Assignment.MANUAL)
    post_sim(Client(), sim_body([sim_event(1)]))
    conversation = Conversation.objects.get()
    login(alice).post(f"/inbox/c/{conversation.id}/assign/", {"assignee": "me"})
    conversation.refresh_from_db()
    assert conversation.assignee == alice and conversation.assigned_at is not None
    assert AuditEvent.objects.filter(verb="conversation.assign", actor=alice).exists()


# --- Moving a conversation to another team from its page -------------------------------------------


@pytest.fixture
def routed(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1)]))
    return Conversation.objects.get()


def test_supervisor_moves_a_misrouted_conversation_to_another_team(routed, team_b, bob, carol):
    make_available(bob)
    page = login(carol).get(f"/inbox/c/{routed.id}/").content.decode()
    assert "Move to another team" in page and "Waste &amp; cleaning" in page
    response = login(carol).post(f"/conversations/{routed.id}/move/", {"team": team_b.slug})
    assert response.status_code == 302
    routed.refresh_from_db()
    assert routed.team == team_b
    assert routed.assignee == bob  # the new team's strategy dealt it
    event = AuditEvent.objects.filter(verb="conversation.assign", actor=carol).get()
    assert event.data["previous_team"] == routed.account.default_team_id and event.data["team"] == team_b.id


def test_officers_cannot_move_and_do_not_see_the_form(routed, team_b, alice):
    assert "Move to another team" not in login(alice).get(f"/inbox/c/{routed.id}/").content.decode()
    assert login(alice).post(f"/conversations/{routed.id}/move/", {"team": team_b.slug}).status_code == 403
    routed.refresh_from_db()
    assert routed.team.slug == "mobility"


def test_another_teams_officer_gets_a_404(routed, team_b, bob):
    assert login(bob).post(f"/conversations/{routed.id}/move/", {"team": team_b.slug}).status_code == 404


def test_a_supervisor_cannot_move_to_a_team_they_do_not_supervise(routed, django_user_model, team_a):
    from inbox.permissions import SUPERVISOR, team_member_add

    sam = django_user_model.objects.create_user("sam")
    team_member_add(team_a, sam, SUPERVISOR)
    elsewhere = Team.objects.create(name="Taxes", slug="taxes")
    login(sam).post(f"/conversations/{routed.id}/move/", {"team": elsewhere.slug})
    routed.refresh_from_db()
    assert routed.team == team_a


# --- Automatic replies' settings ----------------------------------------------------------------


def test_admin_sets_the_automatic_replies_of_an_account(sim_account, dave):
    ack = SavedReply.objects.create(title="Ack", body="Thanks!", language="en")
    ack.versions.create(language="ca", body="Gràcies!")
    page = login(dave).get(f"/automatic-replies/{sim_account.id}/").content.decode()
    assert page.count(">Ack<") == 2  # one entry per saved reply in each of the two lists: versions follow
    response = login(dave).post(f"/automatic-replies/{sim_account.id}/", {
        "acknowledgement": ack.id, "out_of_hours": "", "delay_minutes": 5, "period_hours": 24,
    })
    assert response.status_code == 302
    setting = AutoReplySetting.objects.get(account=sim_account)
    assert (setting.acknowledgement, setting.out_of_hours, setting.delay_minutes) == (ack, None, 5)
    assert AuditEvent.objects.filter(verb="channel_account.autoreply", actor=dave).exists()
    assert "Ack" in login(dave).get("/automatic-replies/").content.decode()


def test_only_admins_change_automatic_replies(sim_account, carol):
    response = login(carol).post(f"/automatic-replies/{sim_account.id}/", {"delay_minutes": 5, "period_hours": 24})
    assert response.status_code == 403
    assert not AutoReplySetting.objects.exists()
    assert ChannelAccount.objects.count() == 1


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", ["/teams/", "/people/", "/teams/mobility/", "/automatic-replies/"])
def test_team_pages_cost_the_same_with_more_teams_and_people(url, team_a, alice, sim_account, dave, django_user_model):
    from inbox.permissions import SUPERVISOR, team_member_add

    client = login(dave)
    client.get(url)  # warm: the approvals link's count is cached per team
    few = _queries(client, url)
    for i in range(5):
        team = Team.objects.create(name=f"Team {i}", slug=f"team-{i}")
        for role in (OFFICER, SUPERVISOR):
            user = django_user_model.objects.create_user(f"{role}{i}")
            team_member_add(team, user, role)
            team_member_add(team_a, user, role)
            make_available(user, languages=["ca"])
        ChannelAccount.objects.create(platform="simulator", external_id=f"a{i}", name=f"A{i}")
    # The new teams' approvals counts are cached on their first page (one aggregate, however
    # many teams); from then on the page costs what it cost with one team.
    client.get(url)
    assert _queries(client, url) == few
