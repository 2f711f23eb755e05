"""Routing rules: validation, every condition and action, shadow mode, versions, traces,
the dry run, the cache across processes, and what bad input never breaks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from channels_adapters.simulator.adapter import SimulatorAdapter
from inbox.models import (
    AuditEvent,
    ChannelAccount,
    Contact,
    Conversation,
    Message,
    RawEvent,
    SavedReply,
    Tag,
    Team,
)
from inbox.permissions import OFFICER, team_member_add
from inbox.services import messages_ingest
from routing import rules as engine
from routing.models import (
    ContactList,
    RoutingRule,
    RoutingRuleVersion,
    RoutingTrace,
    ServiceCalendar,
    SlaClock,
)
from routing.rules import RuleInvalid, Subject, compile_conditions, rule_validate, words_of
from routing.rules_services import (
    rule_delete,
    rule_dry_run,
    rule_move,
    rule_save,
    rules_with_problems,
)
from routing.services import conversations_route
from tests.conftest import committed, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

CATALAN = "Bon dia, les escombraries del carrer Major no s'han recollit des de dilluns"
RESIDUS = {"all": [{"field": "language", "op": "in", "value": ["ca"]},
                   {"field": "text", "op": "contains_any", "value": ["escombraries", "residus"]}]}
TO_WASTE = [{"type": "route_to_team", "team": "waste"}, {"type": "set_priority", "value": "high"}]


@pytest.fixture(autouse=True)
def fresh_rules():
    """Rules live in the test's transaction, the compiled set in the process: start and end
    every test with a new generation, so no test sees another's rolled-back rules."""
    engine.rules_changed()
    yield
    engine.rules_changed()


def deliver(*events):
    return committed(post_sim, Client(), sim_body(list(events)))


def save(actor=None, **fields):
    fields.setdefault("name", "Residus (ca)")
    fields.setdefault("conditions", RESIDUS)
    fields.setdefault("actions", TO_WASTE)
    return committed(rule_save, actor=actor, **fields)


def subject(**facts) -> Subject:
    base = {"platform": "x", "account_id": 1, "kind": "mention", "first_message": True, "text": ""}
    base.update(facts)
    return Subject(**base)


def holds(condition: dict, **facts) -> bool:
    rule_validate(condition, [])
    return compile_conditions(condition).test(subject(**facts))


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(("conditions", "path"), [
    ({"all": [{"field": "language", "op": "in", "value": ["ca"]}, {"field": "text", "op": "contains_any"}]},
     "conditions.all[1].value"),
    ({"all": [{"field": "language", "op": "in", "value": ["ca"]}, {"field": "text", "op": "contains_any",
                                                                    "value": "residus"}]},
     "conditions.all[1].value"),
    ({"any": [{"field": "colour", "op": "in", "value": ["red"]}]}, "conditions.any[0].field"),
    ({"all": [{"not": {"field": "language", "op": "gte", "value": 3}}]}, "conditions.all[0].not.op"),
    ({"all": []}, "conditions.all"),
    ({"all": [{"any": [{"field": "kind", "op": "in", "value": ["fax"]}]}]}, "conditions.all[0].any[0].value[0]"),
    ({"all": [1]}, "conditions.all[0]"),
    ({"all": [], "any": []}, "conditions"),
    ({"all": [{"field": "contact_followers", "op": "gte", "value": -1}]}, "conditions.all[0].value"),
    ({"all": [{"field": "service_hours", "op": "is", "value": "lunch"}]}, "conditions.all[0].value"),
])
def test_malformed_tree_is_refused_with_the_path_of_the_error(conditions, path):
    with pytest.raises(RuleInvalid) as caught:
        rule_validate(conditions, [])
    assert caught.value.path == path


@pytest.mark.parametrize(("actions", "path"), [
    ([{"type": "route_to_team"}], "actions[0].team"),
    ([{"type": "set_priority", "value": "very"}], "actions[0].value"),
    ([{"type": "teleport"}], "actions[0].type"),
    ([{"type": "mark_spam"}, {"type": "auto_reply", "saved_reply": "hello"}], "actions[1].saved_reply"),
    ("route", "actions"),
])
def test_malformed_actions_are_refused_with_the_path(actions, path):
    with pytest.raises(RuleInvalid) as caught:
        rule_validate({}, actions)
    assert caught.value.path == path


def test_regex_that_does_not_compile_is_refused():
    with pytest.raises(RuleInvalid) as caught:
        rule_validate({"all": [{"field": "text", "op": "matches", "value": "bus (24"}]}, [])
    assert caught.value.path == "conditions.all[0].value"
    assert "does not compile" in caught.value.message


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w+\s?)*$", r"^(x*y?)*z", r"((ab)*c)+", r"(?:\d+)*x"])
def test_catastrophic_regex_is_refused_on_save(pattern):
    with pytest.raises(RuleInvalid) as caught:
        rule_validate({"field": "text", "op": "matches", "value": pattern}, [])
    assert "nests repetitions" in caught.value.message


@pytest.mark.parametrize("pattern", [r"\bbus (24|V\d+)\b", r"(ab)+c", r"x{2,5}", r"[a-z]+@[a-z]+\.cat"])
def test_ordinary_regex_is_accepted(pattern):
    rule_validate({"field": "text", "op": "matches", "value": pattern}, [])


# --- conditions, one by one ------------------------------------------------------------------


def test_words_ignore_case_and_accents_and_match_whole_words():
    words = {"field": "text", "op": "contains_any", "value": ["residus", "mercè", "carrer major"]}
    assert holds(words, text="Hi ha RESIDUS al pati")
    assert holds(words, text="Festes de la Merce!")
    assert holds(words, text="Festes de la MERCÈ")
    assert holds(words, text="Al Carrer  Major, 3")
    assert not holds(words, text="residusos i altres")  # whole words only
    assert not holds(words, text="el carrer de baix, major problema")  # a phrase is contiguous
    assert words_of("L'escombraria") == ["l", "escombraria"]


def test_regex_condition_ignores_case():
    assert holds({"field": "text", "op": "matches", "value": r"\bbus\s*\d+"}, text="El BUS 24 no passa")
    assert not holds({"field": "text", "op": "matches", "value": r"\bbus\s*\d+"}, text="autobús")


@pytest.mark.parametrize(("condition", "yes", "no"), [
    ({"field": "platform", "op": "in", "value": ["x", "meta"]}, {"platform": "x"}, {"platform": "telegram"}),
    ({"field": "account", "op": "in", "value": [7]}, {"account_id": 7}, {"account_id": 8}),
    ({"field": "kind", "op": "in", "value": ["dm"]}, {"kind": "dm"}, {"kind": "mention"}),
    ({"field": "kind", "op": "in", "value": ["comment", "reply"]}, {"kind": "reply"}, {"kind": "dm"}),
    ({"field": "first_message", "op": "is", "value": True}, {"first_message": True}, {"first_message": False}),
    ({"field": "first_message", "op": "is", "value": False}, {"first_message": False}, {"first_message": True}),
    ({"field": "language", "op": "in", "value": ["ca"]}, {"language": "ca"}, {"language": "es"}),
    ({"field": "contact_verified", "op": "is", "value": True}, {"verified": True}, {"verified": False}),
    ({"field": "contact_followers", "op": "gte", "value": 1000}, {"followers": 1000}, {"followers": 999}),
    ({"field": "contact_list", "op": "in", "value": ["press"]},
     {"lists_of": lambda: frozenset({"press"})}, {"lists_of": lambda: frozenset({"elected"})}),
    ({"field": "service_hours", "op": "is", "value": "outside"}, {"inside_of": lambda: False},
     {"inside_of": lambda: True}),
    ({"field": "service_hours", "op": "is", "value": "inside"}, {}, {"inside_of": lambda: False}),
    ({"field": "has_attachment", "op": "is", "value": True}, {"has_attachment": True}, {"has_attachment": False}),
    ({"not": {"field": "language", "op": "in", "value": ["ca"]}}, {"language": "es"}, {"language": "ca"}),
    ({"any": [{"field": "language", "op": "in", "value": ["ca"]}, {"field": "kind", "op": "in", "value": ["dm"]}]},
     {"language": "es", "kind": "dm"}, {"language": "es", "kind": "mention"}),
    ({"all": [{"field": "language", "op": "in", "value": ["ca"]},
              {"not": {"any": [{"field": "kind", "op": "in", "value": ["dm"]},
                               {"field": "has_attachment", "op": "is", "value": True}]}}]},
     {"language": "ca"}, {"language": "ca", "has_attachment": True}),
])
def test_each_condition(condition, yes, no):
    assert holds(condition, **yes)
    assert not holds(condition, **no)


def test_index_tries_only_rules_that_can_match_the_language_and_words(team_b):
    save(name="ca words", position=1)
    save(name="es", conditions={"field": "language", "op": "in", "value": ["es"]}, position=2)
    save(name="any words", conditions={"field": "text", "op": "contains_any", "value": ["bus", "metro"]}, position=3)
    save(name="phrase", conditions={"field": "text", "op": "contains_any", "value": ["carrer major"]}, position=4)
    rules = engine.ruleset()

    def tried(**facts):
        return [r.name for r in rules.candidates(subject(**facts))[0]]

    assert tried(language="ca", text="Les escombraries") == ["ca words", "phrase"]
    assert tried(language="ca", text="El bus") == ["any words", "phrase"]
    assert tried(language="es", text="El metro") == ["es", "any words", "phrase"]
    assert tried(language="", text="res") == ["phrase"]


def test_no_conditions_matches_everything():
    assert holds({}, text="anything")


# --- routing with rules ----------------------------------------------------------------------


def test_catalan_rule_routes_to_waste_with_high_priority_and_a_trace(sim_account, team_b, dave):
    rule = save(dave)
    deliver(sim_event(1, text=CATALAN))
    conversation = Conversation.objects.get()
    assert conversation.language == "ca"
    assert conversation.team == team_b
    assert conversation.priority == Conversation.Priority.HIGH
    assert conversation.routed_by == "rule Residus (ca) v1"
    trace = RoutingTrace.objects.get(conversation=conversation)
    assert trace.tried == [[rule.id, 1, True]]
    match = trace.matches[0]
    assert [(c["field"], c["result"]) for c in match["conditions"]] == [("language", True), ("text", True)]
    assert [(a["type"], a["status"]) for a in match["actions"]] == [("route_to_team", "done"),
                                                                    ("set_priority", "done")]
    assert trace.outcome["team"] == team_b.id and trace.outcome["team_name"] == "Waste & cleaning"


def test_unmatched_conversation_goes_to_the_default_team_then_the_fallback(sim_account, team_a, team_b, settings):
    save()
    deliver(sim_event(1, text="El bus 24 no ha pasado esta mañana por la parada"))
    conversation = Conversation.objects.get()
    assert conversation.team == team_a and conversation.routed_by == "channel account default team"
    # Spanish, without the words: the index never tried the rule (it cannot match).
    assert RoutingTrace.objects.get().tried == []
    settings.FALLBACK_TEAM_SLUG = team_b.slug
    ChannelAccount.objects.update(default_team=None)
    deliver(sim_event(2, text="El bus 24 no ha pasado esta mañana por la parada"))
    assert Conversation.objects.get(thread_key="mention:t2").routed_by == "fallback team"


def test_rules_are_tried_in_order_and_stop_after_a_match(sim_account, team_a, team_b):
    first = save(name="Everything Catalan", conditions={"field": "language", "op": "in", "value": ["ca"]},
                 actions=[{"type": "route_to_team", "team": "mobility"}], position=1)
    second = save(position=2)
    deliver(sim_event(1, text=CATALAN))
    assert Conversation.objects.get().team == team_a
    assert RoutingTrace.objects.get().tried == [[first.id, 1, True]]
    committed(rule_save, actor=None, rule=first, stop=False)
    deliver(sim_event(2, text=CATALAN))
    conversation = Conversation.objects.get(thread_key="mention:t2")
    # Both matched; the first rule that sets the team wins; the second's priority applies.
    assert conversation.team == team_a and conversation.priority == Conversation.Priority.HIGH
    trace = RoutingTrace.objects.get(conversation=conversation)
    assert [t[:2] for t in trace.tried] == [[first.id, 2], [second.id, 1]]
    assert trace.matches[1]["actions"][0]["status"] == "overridden"


def test_shadow_rule_is_traced_but_never_acts(sim_account, team_a, team_b):
    rule = save(mode="shadow")
    deliver(sim_event(1, text=CATALAN))
    conversation = Conversation.objects.get()
    assert conversation.team == team_a and conversation.priority == Conversation.Priority.NORMAL
    trace = RoutingTrace.objects.get()
    assert trace.tried == [[rule.id, 1, True]]
    assert {a["status"] for a in trace.matches[0]["actions"]} == {"shadow"}
    assert trace.matches[0]["mode"] == "shadow"


def test_shadow_rules_still_see_messages_an_active_rule_stopped(sim_account, team_a, team_b):
    save(name="All Catalan", conditions={"field": "language", "op": "in", "value": ["ca"]},
         actions=[{"type": "route_to_team", "team": "mobility"}], position=1)
    shadow = save(mode="shadow", position=2)
    after = save(name="Never reached", conditions={}, actions=[{"type": "mark_spam"}], position=3)
    deliver(sim_event(1, text=CATALAN))
    tried = RoutingTrace.objects.get().tried
    assert [t[0] for t in tried][1:] == [shadow.id]
    assert after.id not in [t[0] for t in tried]
    assert Conversation.objects.get().status != Conversation.Status.SPAM


def test_disabled_and_deleted_rules_are_not_tried(sim_account, team_a, team_b):
    disabled = save(enabled=False)
    deleted = save(name="Deleted")
    committed(rule_delete, actor=None, rule=deleted, reason="duplicate")
    deliver(sim_event(1, text=CATALAN))
    assert Conversation.objects.get().team == team_a
    assert not RoutingTrace.objects.exists()  # nothing left to evaluate
    assert disabled.versions.count() == 1
    assert deleted.versions.first().snapshot["deleted"] is True


def test_add_tags_assign_spam_and_sla_policy_actions(sim_account, team_b, bob, django_user_model):
    from routing.models import SlaPolicy

    policy = SlaPolicy.objects.create(name="Press: 30 minutes", first_response_minutes=30)
    SlaPolicy.objects.create(name="Waste default", team=team_b, first_response_minutes=240)
    save(actions=[*TO_WASTE, {"type": "add_tags", "tags": ["residus", "Barri Gòtic"]},
                  {"type": "assign_to", "user": "bob"}, {"type": "apply_sla_policy", "policy": policy.id}])
    deliver(sim_event(1, text=CATALAN))
    conversation = Conversation.objects.get()
    assert conversation.assignee == bob
    assert sorted(conversation.tags.values_list("name", flat=True)) == ["Barri Gòtic", "residus"]
    clock = SlaClock.objects.get(conversation=conversation)
    assert clock.policy == policy and clock.target_seconds == 30 * 60
    assert AuditEvent.objects.filter(verb="conversation.assign", target_id=str(conversation.id)).exists()


def test_mark_spam_action(sim_account, alice):
    save(name="Spam", conditions={"field": "text", "op": "matches", "value": r"crypto\s+giveaway"},
         actions=[{"type": "mark_spam"}])
    deliver(sim_event(1, text="Free CRYPTO  giveaway click here"))
    conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.SPAM
    assert conversation.assignee is None  # spam is not dealt to anyone
    assert not SlaClock.objects.filter(conversation=conversation).exists()


def test_auto_reply_action_queues_an_automatic_reply(sim_account, team_b):
    reply = SavedReply.objects.create(title="Residus", body="Gràcies, ho passem al servei de residus.",
                                      language="ca", kind=SavedReply.Kind.ACKNOWLEDGEMENT)
    save(actions=[*TO_WASTE, {"type": "auto_reply", "saved_reply": reply.id}])
    deliver(sim_event(1, text=CATALAN, channel="dm"))
    conversation = Conversation.objects.get()
    automatic = Message.objects.get(conversation=conversation, direction=Message.Direction.OUTBOUND)
    assert automatic.automatic == Message.Automatic.RULE and automatic.author_user is None
    assert automatic.text == reply.body
    assert conversation.first_response_at is None  # an automatic reply never counts
    entry = RoutingTrace.objects.get().matches[0]["actions"][2]
    assert entry["status"] == "done" and entry["message"] == automatic.id


def test_rule_naming_a_deleted_team_is_flagged_and_skipped_never_stopping_ingestion(
        sim_account, team_a, team_b, alice):
    officer_rule = save(name="To a gone officer", conditions={"field": "language", "op": "in", "value": ["ca"]},
                        actions=[{"type": "assign_to", "user": "nobody"}, {"type": "auto_reply", "saved_reply": 999}],
                        stop=False, position=1)
    rule = save(position=2)
    team_b.delete()
    problems = rules_with_problems([rule, officer_rule])
    assert problems[rule.id] == ["Team “waste” does not exist (any more): the action is skipped."]
    assert len(problems[officer_rule.id]) == 2
    deliver(sim_event(1, text=CATALAN), sim_event(2, text="Un altre missatge en català sobre el carrer"))
    conversation = Conversation.objects.get(thread_key="mention:t1")
    assert conversation.team == team_a and conversation.priority == Conversation.Priority.HIGH
    assert conversation.assignee == alice  # the default assignment still ran
    actions = RoutingTrace.objects.get(conversation=conversation).matches[1]["actions"]
    assert actions[0]["status"] == "skipped"
    assert Conversation.objects.count() == 2


def test_regex_time_guard_never_stops_ingestion(sim_account, team_a, team_b):
    # Stored behind validation's back (an old rule, a direct import): the time guard holds.
    RoutingRule.objects.create(name="Slow", conditions={"field": "text", "op": "matches", "value": r"(\w+\s?)*$"},
                               actions=[{"type": "route_to_team", "team": "waste"}])
    engine.rules_changed()
    deliver(sim_event(1, text="a" * 3000 + "!"))
    conversation = Conversation.objects.get()
    assert conversation.team == team_a
    assert RoutingTrace.objects.get().outcome["regex_timeouts"] == ["conditions"]


def test_contact_facts_lists_and_attachments(sim_account, team_b):
    press = ContactList.objects.create(name="Press", slug="press")
    save(name="Press", conditions={"all": [
        {"field": "contact_list", "op": "in", "value": ["press"]},
        {"field": "contact_verified", "op": "is", "value": True},
        {"field": "contact_followers", "op": "gte", "value": 5000},
        {"field": "has_attachment", "op": "is", "value": True}]}, actions=TO_WASTE)
    journalist = {"id": "j1", "handle": "periodista", "name": "La Periodista", "verified": True, "followers": 12000}
    event = {**sim_event(1, author="j1"), "from": journalist,
             "attachments": [{"type": "image", "url": "https://example.org/a.jpg"}]}
    deliver(event)
    assert Conversation.objects.get().team_id != team_b.id  # not on the list yet
    press.contacts.add(Contact.objects.get(external_id="j1"))
    deliver({**event, "id": "m2", "thread_id": "t2"})
    assert Conversation.objects.get(thread_key="mention:t2").team == team_b


def test_service_hours_condition_reads_the_account_calendar(sim_account, team_b):
    calendar = ServiceCalendar.objects.create(
        name="Weekdays 8-17", timezone="Europe/Madrid",
        periods=[{"weekday": d, "opens": "08:00", "closes": "17:00"} for d in range(5)])
    ChannelAccount.objects.update(calendar=calendar)
    save(name="Out of hours", conditions={"field": "service_hours", "op": "is", "value": "outside"},
         actions=[{"type": "route_to_team", "team": "waste"}])
    saturday = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    friday = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    deliver(sim_event(1, at=saturday), sim_event(2, at=friday))
    assert Conversation.objects.get(thread_key="mention:t1").team == team_b
    assert Conversation.objects.get(thread_key="mention:t2").team != team_b


# --- versions, cache, order ------------------------------------------------------------------


def test_every_change_is_a_version_with_who_and_why_and_is_audited(dave):
    rule = save(dave)
    committed(rule_save, actor=dave, rule=rule, reason="also Spanish", conditions={
        "all": [{"field": "language", "op": "in", "value": ["ca", "es"]}, RESIDUS["all"][1]]})
    committed(rule_save, actor=dave, rule=rule, reason="no change", name=rule.name)  # nothing changed
    rule.refresh_from_db()
    assert rule.version == 2
    versions = list(RoutingRuleVersion.objects.filter(rule=rule).order_by("number"))
    assert [(v.number, v.reason, v.created_by) for v in versions] == [(1, "", dave), (2, "also Spanish", dave)]
    assert versions[0].snapshot["conditions"] == RESIDUS
    with pytest.raises(ValueError):
        versions[0].save()
    verbs = list(AuditEvent.objects.filter(target_type="routing.routingrule").values_list("verb", flat=True))
    assert sorted(verbs) == ["routing_rule.change", "routing_rule.create"]


def test_move_up_and_down(dave):
    a, _b, c = (save(dave, name=n) for n in "abc")
    committed(rule_move, actor=dave, rule=c, direction="up")
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["a", "c", "b"]
    committed(rule_move, actor=dave, rule=a, direction="down")
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["c", "a", "b"]
    committed(rule_move, actor=dave, rule=c, direction="up")  # already first
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["c", "a", "b"]


def test_compiled_once_per_version_and_reloaded_when_another_process_changes_a_rule(team_b):
    rule = save()
    first = engine.ruleset()
    assert engine.ruleset() is first  # nothing changed: the same compiled set
    # Another process saved a rule: only the generation in the cache tells this one.
    RoutingRule.objects.filter(pk=rule.pk).update(version=2, name="Renamed")
    assert engine.ruleset() is first
    cache.set(engine.GENERATION_KEY, "changed-elsewhere")
    second = engine.ruleset()
    assert second is not first and second.rules[0].name == "Renamed"


def test_query_count_with_500_rules_does_not_grow_with_the_batch(sim_account, team_b):
    # Manual teams: the assignment strategies count their own queries (routing/assignment.py).
    Team.objects.update(assignment=Team.Assignment.MANUAL)
    RoutingRule.objects.bulk_create(
        RoutingRule(name=f"r{n}", position=n, conditions={"all": [
            {"field": "language", "op": "in", "value": ["fr"]},
            {"field": "text", "op": "contains_any", "value": [f"mot{n}", f"paraula {n}"]}]},
            actions=[{"type": "route_to_team", "team": "waste"}, {"type": "add_tags", "tags": ["x"]}])
        for n in range(500)
    )
    save(position=1000)
    engine.rules_changed()
    Tag.objects.create(name="x", slug="x")

    def route(n, start):
        raw = RawEvent.objects.create(platform="simulator", source="webhook", body=sim_body(
            [sim_event(start + i, text=CATALAN if i % 2 else f"Le bus {i} est en retard ce matin")
             for i in range(n)]))
        ids = messages_ingest([(m, raw.id) for m in SimulatorAdapter().parse(raw).messages]).new_conversation_ids
        with CaptureQueriesContext(connection) as ctx:
            conversations_route(ids)
        assert RoutingTrace.objects.filter(conversation_id__in=ids).count() == n
        assert Conversation.objects.filter(id__in=ids, team=team_b).count() == n // 2
        return len(ctx.captured_queries)

    engine.ruleset()
    small, large = route(2, 0), route(40, 100)
    assert small == large, (small, large)


# --- dry run ---------------------------------------------------------------------------------


def test_dry_run_counts_and_samples_without_changing_anything(sim_account, team_a, team_b):
    now = datetime.now(UTC)
    deliver(sim_event(1, text=CATALAN, at=now), sim_event(2, text="Residus al carrer de la Mercè, fa pudor", at=now),
            sim_event(3, text="El bus 24 no ha pasado esta mañana", at=now),
            sim_event(4, text=CATALAN, thread="t1", at=now))
    before = list(Conversation.objects.values_list("id", "team_id", "priority"))
    result = rule_dry_run(conditions=RESIDUS, actions=TO_WASTE, days=7)
    assert result["messages"] == 4 and result["matched"] == 3 and result["matched_conversations"] == 2
    assert result["per_team"] == [{"team": "Waste & cleaning", "count": 3}]
    assert {"action": "set_priority: high", "count": 3} in result["per_action"]
    assert len(result["sample"]) == 3 and result["sample"][0]["conditions"][0]["field"] == "language"
    firsts = rule_dry_run(conditions={"all": [*RESIDUS["all"], {"field": "first_message", "op": "is",
                                                                "value": False}]}, actions=[], days=7)
    assert firsts["matched"] == 1  # the follow-up in t1
    old = rule_dry_run(conditions=RESIDUS, actions=TO_WASTE, days=0)
    assert old["matched"] == 0
    assert list(Conversation.objects.values_list("id", "team_id", "priority")) == before
    assert not RoutingTrace.objects.exists()


def test_officer_cast_and_assign_to_an_officer_of_another_team_is_skipped(sim_account, team_b, alice,
                                                                          django_user_model):
    zoe = django_user_model.objects.create_user("zoe")
    team_member_add(Team.objects.get(slug="mobility"), zoe, OFFICER)
    save(actions=[*TO_WASTE, {"type": "assign_to", "user": "zoe"}])
    deliver(sim_event(1, text=CATALAN))
    conversation = Conversation.objects.get()
    assert conversation.team == team_b and conversation.assignee is None
    entry = RoutingTrace.objects.get().matches[0]["actions"][2]
    assert entry["status"] == "skipped" and "not an officer" in entry["why"]
