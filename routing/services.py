"""Place conversations in a team queue and give them to an officer.

For now a conversation goes to its channel account's default team (or the fallback team)
and is assigned round robin among the officers who may answer for that team. The rule
engine builds on ``conversations_route``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from inbox.audit import audit_record, audit_record_many
from inbox.models import Conversation, Team
from routing.assignment import conversations_assign
from routing.models import ServiceCalendar, SlaPolicy
from routing.rules import Ruleset, ruleset
from routing.rules_apply import followups_apply, rules_apply

logger = logging.getLogger(__name__)


def fallback_team() -> Team | None:
    slug = getattr(settings, "FALLBACK_TEAM_SLUG", "")
    team = Team.objects.filter(slug=slug).first() if slug else None
    return team or Team.objects.order_by("id").first()


def conversations_route(conversation_ids: Sequence[int], message_ids: Sequence[int] = ()) -> list[Conversation]:
    """Route the given conversations that no team holds yet. Safe to call twice.

    ``message_ids`` (the batch's new messages): the rules are also evaluated on each inbound
    follow-up among them, once the new conversations are placed
    (``routing.rules_apply.followups_apply``: a follow-up re-routes, raises the priority,
    tags, but never takes a conversation from its officer unless the rule says so).

    The routing rules (``routing.rules``, docs/routing.md) are tried in order on each
    conversation's first message; what matched acts (team, priority, tags, officer,
    automatic reply, spam, SLA policy) and every evaluation leaves a ``RoutingTrace``. A
    conversation no active rule places goes to its account's default team, then the
    fallback team. Set-based: a fixed number of queries per batch, plus one per action that
    cannot be grouped (an explicit officer, an automatic reply).
    """
    if not conversation_ids and not message_ids:
        return []
    rules = ruleset()  # one look at the rules' generation per batch
    firsts: set[int] = set()
    with transaction.atomic():
        routed = _route_new(conversation_ids, rules, firsts)
        # A message that was just evaluated as its new conversation's first is no follow-up:
        # a batch of new conversations only (the usual webhook) costs no query here.
        others = set(message_ids) - firsts
        if others and rules.rules:
            followups_apply(sorted(others), now=timezone.now(), rules=rules)
    return routed


def _route_new(conversation_ids: Sequence[int], rules: Ruleset, firsts: set[int]) -> list[Conversation]:
    if not conversation_ids:
        return []
    with transaction.atomic():
        conversations = list(
            Conversation.objects.select_for_update(of=("self",))
            .filter(id__in=conversation_ids, team__isnull=True)
            .select_related("account__default_team", "account__calendar", "contact")
            .order_by("id")
        )
        if not conversations:
            return []
        now = timezone.now()
        placed = rules_apply(conversations, now=now, rules=rules)
        firsts.update(placed.first_message_ids)
        fallback = None
        by_team: dict[int, list[Conversation]] = {}
        teams: dict[int, Team] = {}
        for conversation in conversations:
            team = conversation.team
            if team is None:
                team = conversation.account.default_team
                conversation.routed_by = "channel account default team"
                if team is None:
                    fallback = fallback or fallback_team()
                    team, conversation.routed_by = fallback, "fallback team"
            if team is None:
                logger.warning("routing: no team exists; conversation %s stays unrouted", conversation.id)
                continue
            conversation.team = team
            conversation.routed_at = now
            teams[team.id] = team
            by_team.setdefault(team.id, []).append(conversation)
        for team_id, team_conversations in sorted(by_team.items()):  # lock teams in id order
            team = teams[team_id]
            waiting = [c for c in team_conversations
                       if c.id not in placed.explicit_assignee and c.status != Conversation.Status.SPAM]
            if waiting:
                conversations_assign(waiting)  # the team's strategy (routing/assignment.py)
        routed = [c for group in by_team.values() for c in group]
        # One UPDATE for the batch whatever the placements (each rule names itself in
        # routed_by: with many rules a statement per placement was a statement per rule).
        for c in routed:
            if c.id in placed.explicit_assignee:
                c.assignee_id = None  # placed.finish assigns them, audited
        _placements_write(routed, now)
        audit_record_many(
            None, "conversation.route",
            [(c, {"team": c.team_id, "assignee": c.assignee_id, "rule": c.routed_by}) for c in routed],
        )
        placed.finish(routed)
    return routed


def _placements_write(routed: Sequence[Conversation], now) -> None:
    """``UPDATE … FROM (VALUES …)``: one statement for the batch, built without the ORM's
    per-row CASE expressions (``bulk_update`` cost ~1 ms of Python per conversation)."""
    if not routed:
        return
    if connection.vendor != "postgresql":
        # The demo's SQLite has no ``::`` casts; its batches are small, the ORM will do.
        for c in routed:
            c.routed_at = now
        Conversation.objects.bulk_update(
            routed, ["team_id", "assignee_id", "routed_by", "routed_at", "priority", "status"])
        return
    table = connection.ops.quote_name(Conversation._meta.db_table)
    row = "(%s::bigint, %s::bigint, %s::bigint, %s::varchar, %s::smallint, %s::varchar)"
    params: list = []
    for c in routed:
        params += [c.id, c.team_id, c.assignee_id, c.routed_by, c.priority, c.status]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET team_id = v.team_id, assignee_id = v.assignee_id, "  # noqa: S608 - names are ours
            f"routed_by = v.routed_by, routed_at = %s, priority = v.priority, status = v.status "
            f"FROM (VALUES {', '.join([row] * len(routed))}) AS v(id, team_id, assignee_id, routed_by, priority, status) "
            f"WHERE c.id = v.id",
            [now, *params],
        )


# --- Service calendars and SLA policies (admins) ---------------------------------------------


def service_calendar_save(*, actor, calendar=None, **fields):
    """Create or change a service calendar; every change is a new version (cached
    ``Calendar`` values are keyed by it) and is audited."""
    return _versioned_save(ServiceCalendar, calendar, "service_calendar", actor=actor, fields=fields)


def sla_policy_save(*, actor, policy=None, **fields):
    """Create or change an SLA policy. A change increments its version; running clocks keep
    the targets and steps they started under."""
    return _versioned_save(SlaPolicy, policy, "sla_policy", actor=actor, fields=fields)


def _versioned_save(model, instance, noun: str, *, actor, fields: dict):
    """Create (``noun.create``) or change (``noun.change``, version + 1) a versioned row, audited."""
    now = timezone.now()
    with transaction.atomic():
        if instance is None:
            instance = model.objects.create(**fields, created_at=now, updated_at=now)
            audit_record(actor, f"{noun}.create", instance, **_plain(fields))
            return instance
        for name, value in fields.items():
            setattr(instance, name, value)
        instance.version += 1
        instance.updated_at = now
        instance.save()
        audit_record(actor, f"{noun}.change", instance, version=instance.version, **_plain(fields))
    return instance


def channel_account_calendar_set(*, actor, account, calendar) -> None:
    """Serve a channel account by ``calendar`` (None: around the clock). Clocks already
    running keep the calendar they started with."""
    previous = account.calendar_id
    account.calendar = calendar
    with transaction.atomic():
        account.save(update_fields=["calendar"])
        audit_record(actor, "channel_account.calendar", account, previous=previous,
                     calendar=calendar.id if calendar else None)


def _plain(fields: dict) -> dict:
    return {k: (v.pk if hasattr(v, "pk") else v) for k, v in fields.items()}
