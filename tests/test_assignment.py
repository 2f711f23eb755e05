"""Assignment: each strategy, capacity, languages, presence, the backlog sweep (earliest due
first), take-back, and claims that hold under parallel workers on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from itertools import count

import pytest
from django.db import close_old_connections, connection, transaction
from django.test import Client
from django.utils import timezone

from inbox.models import (
    AuditEvent,
    ChannelAccount,
    Contact,
    Conversation,
    Message,
    OfficerProfile,
    Team,
)
from inbox.permissions import OFFICER, SUPERVISOR, team_member_add
from inbox.services import conversation_assign
from routing.assignment import assign_backlog, conversations_assign, person_deactivate
from tests.conftest import make_available, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

_n = count(1)


@pytest.fixture
def account(db, team_a):
    return ChannelAccount.objects.create(platform="simulator", external_id="acc", name="City", default_team=team_a)


def conv(account, team, *, kind="private", language="", due=None, status="new", assignee=None) -> Conversation:
    n = next(_n)
    contact = Contact.objects.create(platform="simulator", external_id=f"c{n}")
    return Conversation.objects.create(
        account=account, kind=kind, thread_key=f"t{n}", contact=contact, team=team, language=language,
        sla_due_at=due, status=status, assignee=assignee,
        assigned_at=timezone.now() if assignee else None,
    )


def officer(django_user_model, team, name, *, languages=None, available=True):
    user = django_user_model.objects.create_user(name)
    team_member_add(team, user, OFFICER)
    if available:
        make_available(user, languages=languages or [])
    return user


def set_team(team, **fields):
    Team.objects.filter(pk=team.pk).update(**fields)
    team.refresh_from_db()


def assign(*conversations):
    return conversations_assign(list(conversations))


def test_manual_team_assigns_nobody(account, team_a, alice):
    set_team(team_a, assignment=Team.Assignment.MANUAL)
    c = conv(account, team_a)
    assert assign(c) == []
    c.refresh_from_db()
    assert c.assignee is None


def test_round_robin_takes_turns_and_remembers_the_cursor(account, team_a, alice, django_user_model):
    zoe = officer(django_user_model, team_a, "zoe")
    first = [conv(account, team_a) for _ in range(3)]
    assign(*first)
    later = conv(account, team_a)
    assign(later)
    got = [Conversation.objects.get(pk=c.pk).assignee for c in [*first, later]]
    assert got == [alice, zoe, alice, zoe]
    assert AuditEvent.objects.filter(verb="conversation.assign", data__by="assignment").count() == 4


def test_least_loaded_gives_to_whoever_holds_fewest_of_that_kind(account, team_a, alice, django_user_model):
    set_team(team_a, assignment=Team.Assignment.LEAST_LOADED)
    zoe = officer(django_user_model, team_a, "zoe")
    for _ in range(2):
        conv(account, team_a, assignee=alice)
    conv(account, team_a, kind="public", assignee=zoe)
    conv(account, team_a, kind="public", assignee=zoe)
    private, public = conv(account, team_a), conv(account, team_a, kind="public")
    assign(private, public)
    private.refresh_from_db()
    public.refresh_from_db()
    assert private.assignee == zoe  # zoe holds no private conversation; alice two
    assert public.assignee == alice  # and alice no public one


def test_capacity_is_never_exceeded_and_the_rest_waits(account, team_a, alice):
    set_team(team_a, assignment=Team.Assignment.LEAST_LOADED, capacity_private=2, capacity_public=1)
    private = [conv(account, team_a) for _ in range(3)]
    public = [conv(account, team_a, kind="public") for _ in range(2)]
    assign(*private, *public)
    assert Conversation.objects.filter(assignee=alice, kind="private").count() == 2
    assert Conversation.objects.filter(assignee=alice, kind="public").count() == 1
    assert Conversation.objects.filter(assignee__isnull=True).count() == 2


def test_round_robin_respects_capacity_too(account, team_a, alice, django_user_model):
    set_team(team_a, capacity_private=1)
    zoe = officer(django_user_model, team_a, "zoe")
    conv(account, team_a, assignee=alice)
    c1, c2 = conv(account, team_a), conv(account, team_a)
    assign(c1, c2)
    assert Conversation.objects.get(pk=c1.pk).assignee == zoe
    assert Conversation.objects.get(pk=c2.pk).assignee is None


def test_a_conversation_in_a_known_language_goes_to_an_officer_who_speaks_it(account, team_a, alice,
                                                                              django_user_model):
    make_available(alice, languages=["es"])
    marta = officer(django_user_model, team_a, "marta", languages=["ca", "es"])
    cs = [conv(account, team_a, language="ca") for _ in range(3)]
    assign(*cs)
    assert {Conversation.objects.get(pk=c.pk).assignee for c in cs} == {marta}
    # With no speaker available, someone else takes it rather than nobody.
    OfficerProfile.objects.filter(user=marta).update(status=OfficerProfile.Presence.AWAY)
    other = conv(account, team_a, language="ca")
    assign(other)
    assert Conversation.objects.get(pk=other.pk).assignee == alice


@pytest.mark.parametrize("status", [OfficerProfile.Presence.AWAY, OfficerProfile.Presence.OFFLINE])
def test_nobody_is_assigned_work_while_away_or_offline(account, team_a, alice, status):
    OfficerProfile.objects.filter(user=alice).update(status=status)
    c = conv(account, team_a)
    assert assign(c) == []


def test_an_officer_whose_pages_are_closed_stops_receiving_work_after_the_timeout(account, team_a, alice, settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 90
    OfficerProfile.objects.filter(user=alice).update(last_seen_at=timezone.now() - timedelta(seconds=89))
    assert len(assign(conv(account, team_a))) == 1
    OfficerProfile.objects.filter(user=alice).update(last_seen_at=timezone.now() - timedelta(seconds=91))
    assert assign(conv(account, team_a)) == []


def test_supervisors_and_deactivated_officers_are_not_dealt_work(account, team_a, alice, carol):
    make_available(carol)
    alice.is_active = False
    alice.save()
    assert assign(conv(account, team_a)) == []


def test_routing_of_new_messages_uses_the_team_strategy(sim_account, team_a, alice, django_user_model):
    set_team(team_a, assignment=Team.Assignment.LEAST_LOADED, capacity_public=1)
    zoe = officer(django_user_model, team_a, "zoe")
    for n in range(1, 4):
        post_sim(Client(), sim_body([sim_event(n)]))
    assignees = list(Conversation.objects.order_by("id").values_list("assignee", flat=True))
    assert sorted(assignees[:2]) == sorted([alice.id, zoe.id]) and assignees[2] is None


def test_backlog_is_assigned_earliest_due_first_when_an_officer_becomes_available(account, team_a, alice):
    OfficerProfile.objects.filter(user=alice).update(status=OfficerProfile.Presence.AWAY)
    set_team(team_a, capacity_private=2)
    now = timezone.now()
    late, undated, soon, sooner = (
        conv(account, team_a, due=now + timedelta(hours=2)), conv(account, team_a),
        conv(account, team_a, due=now + timedelta(minutes=30)), conv(account, team_a, due=now + timedelta(minutes=5)),
    )
    assert assign_backlog().assigned == 0
    make_available(alice)
    result = assign_backlog()
    assert result.assigned == 2
    assigned = set(Conversation.objects.filter(assignee=alice).values_list("id", flat=True))
    assert assigned == {sooner.id, soon.id}
    # Capacity frees up: the next earliest due goes next, the one without a due time last.
    Conversation.objects.filter(pk=sooner.pk).update(status=Conversation.Status.RESOLVED)
    assign_backlog()
    assert Conversation.objects.get(pk=late.pk).assignee == alice
    assert Conversation.objects.get(pk=undated.pk).assignee is None


def test_backlog_sweep_leaves_manual_teams_alone(account, team_a, alice):
    set_team(team_a, assignment=Team.Assignment.MANUAL)
    conv(account, team_a)
    assert assign_backlog().assigned == 0


def test_unanswered_conversation_is_taken_back_and_given_to_someone_else(account, team_a, alice, django_user_model):
    set_team(team_a, reassign_after_minutes=15)
    zoe = officer(django_user_model, team_a, "zoe")
    stale = conv(account, team_a, assignee=alice)
    answered = conv(account, team_a, assignee=alice)
    fresh = conv(account, team_a, assignee=alice)
    old = timezone.now() - timedelta(minutes=20)
    Conversation.objects.filter(pk__in=[stale.pk, answered.pk]).update(assigned_at=old)
    Message.objects.create(conversation=answered, account=account, direction="out", kind="dm", visibility="private",
                           author_user=alice, text="Hola", sent_at=old + timedelta(minutes=5))

    result = assign_backlog()

    assert result.taken_back == 1
    assert Conversation.objects.get(pk=stale.pk).assignee == zoe
    assert Conversation.objects.get(pk=answered.pk).assignee == alice
    assert Conversation.objects.get(pk=fresh.pk).assignee == alice
    event = AuditEvent.objects.get(verb="conversation.take_back")
    assert event.target_id == str(stale.pk)
    assert event.data["previous_assignee"] == alice.id and event.data["assignee"] == zoe.id


def test_take_back_keeps_the_conversation_when_nobody_else_can_take_it(account, team_a, alice):
    set_team(team_a, reassign_after_minutes=15)
    stale = conv(account, team_a, assignee=alice)
    Conversation.objects.filter(pk=stale.pk).update(assigned_at=timezone.now() - timedelta(hours=1))
    assert assign_backlog().taken_back == 0
    assert Conversation.objects.get(pk=stale.pk).assignee == alice


def test_deactivating_a_person_sends_their_open_conversations_back_to_the_queue(account, team_a, alice, dave):
    mine = [conv(account, team_a, assignee=alice) for _ in range(2)]
    done = conv(account, team_a, assignee=alice, status="resolved")
    assert person_deactivate(actor=dave, user=alice) == 2
    alice.refresh_from_db()
    assert not alice.is_active
    assert not Conversation.objects.filter(pk__in=[c.pk for c in mine], assignee__isnull=False).exists()
    assert Conversation.objects.get(pk=done.pk).assignee == alice  # the record of who answered stays
    assert AuditEvent.objects.filter(verb="user.deactivate", actor=dave).exists()


def test_a_supervisor_or_the_admin_may_hold_conversations(account, team_a, carol, dave):
    c = conv(account, team_a)
    conversation_assign(conversation=c, user=dave, assignee=dave)
    assert Conversation.objects.get(pk=c.pk).assignee == dave
    conversation_assign(conversation=c, user=carol, assignee=carol)
    assert Conversation.objects.get(pk=c.pk).assignee == carol


# --- Under concurrency, on PostgreSQL ----------------------------------------------------------


def _in_threads(n: int, target) -> list:
    barrier = threading.Barrier(n)
    errors: list = []

    def run():
        try:
            barrier.wait()
            target()
        except Exception as exc:  # reported to the test below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("strategy", [Team.Assignment.ROUND_ROBIN, Team.Assignment.LEAST_LOADED])
def test_parallel_sweeps_never_assign_twice_nor_exceed_capacity(django_user_model, strategy):
    team = Team.objects.create(name="Mobility", slug="mobility", assignment=strategy, capacity_private=3)
    other = Team.objects.create(name="Waste", slug="waste", assignment=strategy, capacity_private=3)
    account = ChannelAccount.objects.create(platform="simulator", external_id="acc", name="City")
    officers = [officer(django_user_model, team, f"o{i}") for i in range(3)]
    team_member_add(other, officers[0], OFFICER)  # one officer works for both teams
    team_member_add(team, django_user_model.objects.create_user("sup"), SUPERVISOR)
    for _ in range(30):
        conv(account, team)
    for _ in range(10):
        conv(account, other)

    errors = _in_threads(6, assign_backlog)

    assert errors == []
    loads = {o.id: Conversation.objects.filter(assignee=o).count() for o in officers}
    assert all(n <= 3 for n in loads.values()), loads
    assert sum(loads.values()) == 9  # every officer filled to capacity, once
    # One audit row per assignment: no conversation was claimed by two workers.
    assert AuditEvent.objects.filter(verb="conversation.assign").count() == 9


@pytest.mark.django_db(transaction=True)
def test_parallel_routing_and_sweeps_claim_each_conversation_once(django_user_model):
    team = Team.objects.create(name="Mobility", slug="mobility", assignment=Team.Assignment.LEAST_LOADED,
                               capacity_private=50)
    account = ChannelAccount.objects.create(platform="simulator", external_id="acc", name="City")
    for i in range(4):
        officer(django_user_model, team, f"o{i}")
    conversations = [conv(account, team) for _ in range(40)]

    def route_like_ingest():
        # As conversations_route does: the batch's conversations locked, then assigned.
        with transaction.atomic():
            batch = list(Conversation.objects.select_for_update().filter(
                pk__in=[c.pk for c in conversations], assignee__isnull=True).order_by("id"))
            conversations_assign(batch)

    def worker():
        for _ in range(3):
            route_like_ingest()
            assign_backlog()

    assert _in_threads(4, worker) == []
    assert Conversation.objects.filter(assignee__isnull=True).count() == 0
    assert AuditEvent.objects.filter(verb="conversation.assign").count() == 40
    # Least loaded: the 40 spread evenly over the 4 officers.
    loads = [Conversation.objects.filter(assignee__username=f"o{i}").count() for i in range(4)]
    assert loads == [10, 10, 10, 10]
