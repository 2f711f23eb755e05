"""Routing rules on follow-up messages: every inbound message is evaluated and traced; a
follow-up re-routes an unassigned conversation, raises (never lowers) the priority, tags,
and never takes a conversation from its officer unless the action says ``reassign``."""

from __future__ import annotations

import pytest
from django.test import Client

from inbox.models import AuditEvent, Conversation, Tag
from routing import rules as engine
from routing.models import RoutingTrace
from routing.rules import RuleInvalid, rule_validate
from routing.rules_services import rule_save
from tests.conftest import committed, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

CATALAN = "Bon dia, les escombraries del carrer Major no s'han recollit des de dilluns"
FOLLOWUP_URGENT = {"all": [{"field": "first_message", "op": "is", "value": False},
                           {"field": "text", "op": "contains_any", "value": ["urgent", "perill"]}]}


@pytest.fixture(autouse=True)
def fresh_rules():
    engine.rules_changed()
    yield
    engine.rules_changed()


def deliver(*events):
    return committed(post_sim, Client(), sim_body(list(events)))


def save(**fields):
    return committed(rule_save, actor=None, **fields)


def test_every_inbound_message_is_evaluated_and_traced(sim_account, team_a, team_b):
    rule = save(name="Residus", conditions={"field": "text", "op": "contains_any", "value": ["escombraries"]},
                actions=[{"type": "add_tags", "tags": ["residus"]}])
    deliver(sim_event(1, text="El bus 24 no ha passat"))
    deliver(sim_event(2, thread="t1", text="I també hi ha escombraries a la parada"))
    deliver(sim_event(3, thread="t1", text="Gràcies"))
    conversation = Conversation.objects.get()
    traces = list(RoutingTrace.objects.filter(conversation=conversation).order_by("id"))
    assert len(traces) == 3  # the first message and each follow-up
    assert [t.outcome.get("followup", False) for t in traces] == [False, True, True]
    assert [t.message.text[:6] for t in traces] == ["El bus", "I tamb", "Gràcie"]
    assert traces[1].tried == [[rule.id, 1, True]] and traces[2].tried == []
    # The first-message condition is false on follow-ups, and the trace says so.
    assert list(conversation.tags.values_list("name", flat=True)) == ["residus"]


def test_follow_up_only_rule_raises_priority_and_tags_without_moving(sim_account, team_a, team_b, alice):
    save(name="Urgent follow-up", conditions=FOLLOWUP_URGENT,
         actions=[{"type": "set_priority", "value": "urgent"}, {"type": "add_tags", "tags": ["urgent"]},
                  {"type": "route_to_team", "team": "waste"}])
    deliver(sim_event(1, text="Hi ha un arbre caigut, és urgent"))
    conversation = Conversation.objects.get()
    # The rule names follow-ups only: the first message is routed as before.
    assert conversation.team == team_a and conversation.priority == Conversation.Priority.NORMAL
    assert conversation.assignee == alice  # dealt round robin by team A
    deliver(sim_event(2, thread="t1", text="Encara hi és, és molt urgent, hi ha perill"))
    conversation.refresh_from_db()
    assert conversation.priority == Conversation.Priority.URGENT
    assert set(conversation.tags.values_list("name", flat=True)) == {"urgent"}
    # Alice holds it: the route action is skipped, the conversation stays with her in team A.
    assert conversation.team == team_a and conversation.assignee == alice
    trace = RoutingTrace.objects.filter(conversation=conversation).order_by("-id").first()
    statuses = {a["type"]: (a["status"], a.get("why", "")) for a in trace.matches[0]["actions"]}
    assert statuses["set_priority"][0] == "done" and statuses["add_tags"][0] == "done"
    assert statuses["route_to_team"][0] == "skipped" and "stays with them" in statuses["route_to_team"][1]
    assert trace.outcome["followup"] is True and trace.outcome["assignee"] == alice.id
    assert trace.matches[0]["conditions"][0] == {"path": "conditions.all[0]", "field": "first_message", "op": "is",
                                                 "value": False, "result": True}


def test_follow_up_reroutes_an_unassigned_conversation(sim_account, team_a, team_b, bob):
    from inbox.models import Team

    Team.objects.filter(pk=team_a.pk).update(assignment=Team.Assignment.MANUAL)
    save(name="Residus", conditions={"field": "text", "op": "contains_any", "value": ["escombraries"]},
         actions=[{"type": "route_to_team", "team": "waste"}])
    deliver(sim_event(1, text="El bus 24 no ha passat"))
    conversation = Conversation.objects.get()
    assert conversation.team == team_a and conversation.assignee is None
    deliver(sim_event(2, thread="t1", text="I també hi ha escombraries"))
    conversation.refresh_from_db()
    assert conversation.team == team_b and conversation.routed_by == "rule Residus v1"
    assert conversation.assignee == bob  # team B's round robin dealt it
    audit = AuditEvent.objects.filter(verb="conversation.route", target_id=str(conversation.pk)).order_by("id").last()
    assert audit.data["followup"] is True and audit.data["previous_team"] == team_a.id


def test_reassign_moves_a_held_conversation_and_ends_the_hold(sim_account, team_a, team_b, alice, bob):
    save(name="Residus", conditions=FOLLOWUP_URGENT,
         actions=[{"type": "route_to_team", "team": "waste", "reassign": True}])
    deliver(sim_event(1, text="Hola"))
    conversation = Conversation.objects.get()
    assert conversation.assignee == alice
    deliver(sim_event(2, thread="t1", text="És urgent"))
    conversation.refresh_from_db()
    assert conversation.team == team_b and conversation.assignee == bob


def test_a_follow_up_never_lowers_the_priority(sim_account, team_a):
    save(name="Calm", conditions={"field": "first_message", "op": "is", "value": False},
         actions=[{"type": "set_priority", "value": "low"}])
    deliver(sim_event(1, text="Hola"))
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(priority=Conversation.Priority.HIGH)
    deliver(sim_event(2, thread="t1", text="Hola de nou"))
    conversation.refresh_from_db()
    assert conversation.priority == Conversation.Priority.HIGH
    action = RoutingTrace.objects.order_by("-id").first().matches[0]["actions"][0]
    assert action["status"] == "skipped" and "never lowers" in action["why"]


def test_spam_and_assign_on_a_held_follow_up_are_skipped_unless_reassign(sim_account, team_a, alice,
                                                                         django_user_model):
    from inbox.permissions import OFFICER, team_member_add

    erin = django_user_model.objects.create_user("erin")
    team_member_add(team_a, erin, OFFICER)
    save(name="Spam words", conditions={"field": "text", "op": "contains_any", "value": ["casino"]},
         actions=[{"type": "mark_spam"}], position=1, stop=False)
    save(name="To erin", conditions={"field": "text", "op": "contains_any", "value": ["erin"]},
         actions=[{"type": "assign_to", "user": "erin"}], position=2)
    deliver(sim_event(1, text="Hola"))
    conversation = Conversation.objects.get()
    assert conversation.assignee == alice
    deliver(sim_event(2, thread="t1", text="casino erin"))
    conversation.refresh_from_db()
    assert conversation.status != Conversation.Status.SPAM and conversation.assignee == alice
    trace = RoutingTrace.objects.order_by("-id").first()
    assert [m["actions"][0]["status"] for m in trace.matches] == ["skipped", "skipped"]
    # The same assignment with "reassign": the follow-up gives it to erin (audited).
    rule = engine.ruleset().rules[1]
    from routing.models import RoutingRule

    committed(rule_save, actor=None, rule=RoutingRule.objects.get(pk=rule.id),
              actions=[{"type": "assign_to", "user": "erin", "reassign": True}])
    deliver(sim_event(3, thread="t1", text="per a erin"))
    conversation.refresh_from_db()
    assert conversation.assignee == erin
    assert AuditEvent.objects.filter(verb="conversation.assign", target_id=str(conversation.pk),
                                     data__assignee=erin.id).exists()


def test_two_messages_of_a_new_conversation_in_one_batch(sim_account, team_a, team_b):
    save(name="Residus", conditions={"all": [{"field": "first_message", "op": "is", "value": False},
                                             {"field": "text", "op": "contains_any", "value": ["residus"]}]},
         actions=[{"type": "add_tags", "tags": ["residus"]}])
    deliver(sim_event(1, text="Hola"), sim_event(2, thread="t1", text="Hi ha residus"))
    conversation = Conversation.objects.get()
    assert RoutingTrace.objects.filter(conversation=conversation).count() == 2
    assert list(conversation.tags.values_list("name", flat=True)) == ["residus"]
    assert Tag.objects.filter(name="residus").exists()


def test_reassign_flag_is_validated():
    rule_validate({}, [{"type": "route_to_team", "team": "waste", "reassign": True}])
    with pytest.raises(RuleInvalid) as caught:
        rule_validate({}, [{"type": "mark_spam", "reassign": "yes"}])
    assert caught.value.path == "actions[0].reassign"
    with pytest.raises(RuleInvalid):
        rule_validate({}, [{"type": "set_priority", "value": "high", "reassign": True}])
