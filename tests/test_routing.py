"""Routing for the foundation: the account's default team, then round robin."""

from __future__ import annotations

import pytest
from django.test import Client

from inbox.models import AuditEvent, ChannelAccount, Conversation, Team
from inbox.permissions import OFFICER, team_member_add
from routing.services import conversations_route
from tests.conftest import make_available, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db


def test_round_robin_takes_turns_among_the_team_s_officers(sim_account, alice, django_user_model, team_a):
    zoe = django_user_model.objects.create_user("zoe")
    team_member_add(team_a, zoe, OFFICER)
    make_available(zoe)

    for n in range(1, 5):
        post_sim(Client(), sim_body([sim_event(n)]))

    assignees = list(Conversation.objects.order_by("id").values_list("assignee__username", flat=True))
    assert assignees == ["alice", "zoe", "alice", "zoe"]
    assert AuditEvent.objects.filter(verb="conversation.route").count() == 4


def test_follow_up_keeps_its_assignee(sim_account, alice, django_user_model, team_a):
    zoe = django_user_model.objects.create_user("zoe")
    team_member_add(team_a, zoe, OFFICER)
    make_available(zoe)
    post_sim(Client(), sim_body([sim_event(1)]))
    post_sim(Client(), sim_body([sim_event(2, thread="t1")]))
    assert Conversation.objects.get().assignee == alice


def test_manual_pull_team_leaves_conversations_unassigned(sim_account, alice, team_a):
    Team.objects.filter(id=team_a.id).update(assignment=Team.Assignment.MANUAL)
    post_sim(Client(), sim_body([sim_event(1)]))
    conversation = Conversation.objects.get()
    assert conversation.team == team_a and conversation.assignee is None


def test_account_without_default_team_goes_to_the_fallback_team(sim_account, team_b, settings):
    settings.FALLBACK_TEAM_SLUG = team_b.slug
    ChannelAccount.objects.update(default_team=None)
    post_sim(Client(), sim_body([sim_event(1)]))
    conversation = Conversation.objects.get()
    assert conversation.team == team_b
    assert conversation.routed_by == "fallback team"


def test_routing_twice_changes_nothing(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1)]))
    conversation = Conversation.objects.get()
    assert conversations_route([conversation.id]) == []
    assert AuditEvent.objects.filter(verb="conversation.route").count() == 1


def test_team_without_officers_keeps_the_conversation_in_the_queue(sim_account):
    post_sim(Client(), sim_body([sim_event(1)]))
    conversation = Conversation.objects.get()
    assert conversation.team is not None and conversation.assignee is None


def test_supervisors_answer_but_are_not_in_the_round(sim_account, alice, carol):
    for n in range(1, 4):
        post_sim(Client(), sim_body([sim_event(n)]))
    assert set(Conversation.objects.values_list("assignee__username", flat=True)) == {"alice"}
