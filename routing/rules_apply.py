"""Apply the routing rules to a batch of new conversations (called by
``routing.services.conversations_route`` inside its transaction, rows locked), and to the
follow-up messages of conversations already routed (``followups_apply``).

Order of precedence when several active rules match (a rule with ``stop: false`` lets the
next ones run): the first rule that sets the team, the priority, the officer, the SLA policy
or an automatic reply wins; tags add up; spam is spam. Shadow rules are traced with what
they *would* have done, and never act. An action naming something that no longer exists (a
deleted team, officer, saved reply or policy) is skipped and traced, never fatal.

On a follow-up (every inbound message after a conversation's first) the same rules run —
``first_message is false`` singles follow-ups out — with three differences, so that a
citizen's next message never pulls work from under the officer handling it:

- *route to team*, *assign to officer* and *mark as spam* leave a conversation that an
  officer holds where it is (traced as skipped), unless the action says
  ``"reassign": true``: then it moves (to the team's queue, dealt by its strategy; to the
  named officer; to spam) and the previous officer's hold ends, audited;
- on an unassigned conversation *route to team* moves it to the team's queue (its strategy
  deals it), as a first message would;
- *set priority* only ever raises the priority (a follow-up never lowers what a supervisor
  or an earlier message set).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Exists, OuterRef

from inbox.audit import audit_record_many
from inbox.models import Conversation, Message, Tag
from inbox.services import AssignmentRefused, conversation_assign
from routing.assignment import conversations_assign
from routing.autoreply import autoreply_queue
from routing.models import RoutingTrace, SlaPolicyOverride
from routing.rules import (
    PRIORITIES,
    CompiledRule,
    Evaluation,
    Ruleset,
    evaluate_many,
    explain,
    ruleset,
)
from routing.rules_services import existing, references, subjects_for

logger = logging.getLogger(__name__)

DONE, SHADOW, SKIPPED, OVERRIDDEN = "done", "shadow", "skipped", "overridden"


def routed_by_rule(rule: CompiledRule) -> str:
    return f"rule {rule.name} v{rule.version}"[:200]


@dataclass
class Placed:
    """What the rules decided for a batch; ``finish`` does what needs the final placement."""

    traces: list[RoutingTrace] = field(default_factory=list)
    explicit_assignee: dict[int, object] = field(default_factory=dict)  # conversation id -> user
    auto_replies: dict[int, tuple] = field(default_factory=dict)  # conversation id -> (saved reply, delay, entry)
    tags: dict[int, list[int]] = field(default_factory=dict)
    policies: dict[int, tuple] = field(default_factory=dict)  # conversation id -> (policy, version id)
    assign_entries: dict[int, dict] = field(default_factory=dict)
    first_message_ids: set[int] = field(default_factory=set)  # the messages evaluated as firsts

    def finish(self, routed: Sequence[Conversation]) -> None:
        by_id = {c.id: c for c in routed}
        for conversation_id, user in self.explicit_assignee.items():
            conversation = by_id.get(conversation_id)
            entry = self.assign_entries[conversation_id]
            if conversation is None:
                continue
            try:
                conversation_assign(conversation=conversation, user=None, assignee=user)
            except AssignmentRefused as exc:
                entry.update(status=SKIPPED, why=str(exc))
        if self.tags:
            through = Conversation.tags.through
            through.objects.bulk_create(
                [through(conversation_id=cid, tag_id=tid) for cid, tids in self.tags.items() for tid in tids],
                ignore_conflicts=True,
            )
        if self.policies:
            SlaPolicyOverride.objects.bulk_create(
                [SlaPolicyOverride(conversation_id=cid, policy=policy, rule_version_id=vid)
                 for cid, (policy, vid) in self.policies.items()],
                ignore_conflicts=True,
            )
        for conversation_id, (saved_reply, delay, entry) in self.auto_replies.items():
            conversation = by_id.get(conversation_id)
            if conversation is None or conversation.status == Conversation.Status.SPAM:
                entry.update(status=SKIPPED, why="spam")
                continue
            message = autoreply_queue(conversation, saved_reply, reason=Message.Automatic.RULE,
                                      delay_minutes=delay)
            if message is None:
                entry.update(status=SKIPPED, why="not allowed now (platform, period or channel)")
            else:
                entry["message"] = message.id
        for trace in self.traces:
            conversation = by_id.get(trace.conversation_id)
            if conversation is not None:
                trace.outcome.update(
                    team=conversation.team_id, team_name=conversation.team.name if conversation.team else "",
                    routed_by=conversation.routed_by, priority=conversation.priority, status=conversation.status,
                    assignee=conversation.assignee_id,
                )
        RoutingTrace.objects.bulk_create(self.traces)


def _first_messages(conversations: Sequence[Conversation]) -> dict[int, Message]:
    """Each conversation's first inbound message: one query (DISTINCT ON the conversation)."""
    ids = [c.id for c in conversations]
    by_conversation = {c.id: c for c in conversations}
    out = {}
    for message in (
        Message.objects.filter(conversation_id__in=ids, direction=Message.Direction.INBOUND)
        .order_by("conversation_id", "id").distinct("conversation_id")
        .only("id", "conversation_id", "account_id", "kind", "text", "attachments", "sent_at")
    ):
        message.conversation = by_conversation[message.conversation_id]
        message.account = message.conversation.account
        out[message.conversation_id] = message
    return out


def rules_apply(conversations: Sequence[Conversation], *, now: datetime, rules: Ruleset | None = None) -> Placed:
    """Evaluate the rules on each conversation's first message and set, in memory, the
    team, priority and status they decide; ``Placed`` holds the rest."""
    placed = Placed()
    rules = rules or ruleset()
    if not rules.rules:
        return placed
    firsts = _first_messages(conversations)
    placed.first_message_ids.update(m.id for m in firsts.values())
    todo = [c for c in conversations if c.id in firsts]
    messages = [firsts[c.id] for c in todo]
    subjects = subjects_for(messages, {m.id for m in messages}, need_lists=rules.needs("contact_list"))
    evaluations = evaluate_many(rules, subjects)
    matched_rules = {r.id: r for e in evaluations for r in e.matched}
    found = existing(references(_Refs(r) for r in matched_rules.values()))
    tag_ids = _tag_ids(matched_rules.values())
    for conversation, message, subject, evaluation in zip(todo, messages, subjects, evaluations, strict=True):
        placed.traces.append(_apply_one(
            placed, conversation, message, subject, evaluation, found, tag_ids, rules.generation, now))
    return placed


def followups_apply(message_ids: Sequence[int], *, now: datetime, rules: Ruleset | None = None) -> list[Conversation]:
    """Evaluate the rules on each inbound follow-up among ``message_ids`` (a message that is
    not its conversation's first inbound one, in a conversation already in a team), act as
    the module's docstring says and trace every evaluation. Runs in the caller's transaction
    (conversation rows locked in id order). Returns the conversations it changed."""
    rules = rules or ruleset()
    if not rules.rules or not message_ids:
        return []
    # One query: the batch's inbound messages that have an earlier inbound one in their
    # conversation (most batches: none, on the conversation index).
    earlier = Message.objects.filter(conversation_id=OuterRef("conversation_id"), id__lt=OuterRef("id"),
                                     direction=Message.Direction.INBOUND)
    followups = list(
        Message.objects.filter(id__in=list(message_ids), direction=Message.Direction.INBOUND)
        .filter(Exists(earlier))
        .only("id", "conversation_id", "account_id", "kind", "text", "attachments", "sent_at").order_by("id")
    )
    if not followups:
        return []
    conversations = {
        c.id: c for c in Conversation.objects.select_for_update(of=("self",))
        .filter(id__in={m.conversation_id for m in followups}, team__isnull=False)
        .select_related("account__calendar", "contact", "team").order_by("id")
    }
    followups = [m for m in followups if m.conversation_id in conversations]
    if not followups:
        return []
    for message in followups:
        message.conversation = conversations[message.conversation_id]
        message.account = message.conversation.account
    before = {c.id: _placement(c) for c in conversations.values()}
    subjects = subjects_for(followups, set(), need_lists=rules.needs("contact_list"))
    evaluations = evaluate_many(rules, subjects)
    matched_rules = {r.id: r for e in evaluations for r in e.matched}
    found = existing(references(_Refs(r) for r in matched_rules.values()))
    tag_ids = _tag_ids(matched_rules.values())
    placed = Placed()
    for message, subject, evaluation in zip(followups, subjects, evaluations, strict=True):
        trace = _apply_one(placed, message.conversation, message, subject, evaluation, found, tag_ids,
                           rules.generation, now, followup=True)
        trace.outcome["followup"] = True
        placed.traces.append(trace)
    changed = [c for c in conversations.values() if _placement(c) != before[c.id]]
    moved = [c for c in changed if c.team_id != before[c.id][0]]
    for c in moved:
        c.routed_at = now
    for c in changed:
        Conversation.objects.filter(pk=c.pk).update(
            team_id=c.team_id, assignee_id=c.assignee_id, assigned_at=c.assigned_at, routed_by=c.routed_by,
            routed_at=c.routed_at, priority=c.priority, status=c.status, updated_at=now,
        )
    audit_record_many(None, "conversation.route", [
        (c, {"team": c.team_id, "assignee": c.assignee_id, "rule": c.routed_by, "followup": True,
             "previous_team": before[c.id][0], "previous_assignee": before[c.id][1],
             "priority": c.priority, "status": c.status})
        for c in changed
    ])
    waiting = [c for c in moved if c.assignee_id is None and c.id not in placed.explicit_assignee
               and c.status != Conversation.Status.SPAM]
    if waiting:
        conversations_assign(waiting, now=now)  # the new team's strategy (routing/assignment.py)
    placed.finish(list(conversations.values()))
    return changed


def _placement(c: Conversation) -> tuple:
    return (c.team_id, c.assignee_id, c.priority, c.status)


class _Refs:
    """A compiled rule seen as ``references`` expects (conditions and actions)."""

    def __init__(self, rule: CompiledRule) -> None:
        self.conditions = {}
        self.actions = rule.actions


def _tag_ids(rules) -> dict[str, int]:
    names = {n for r in rules for a in r.actions if a.get("type") == "add_tags" for n in a.get("tags", ())}
    return dict(Tag.objects.filter(name__in=names).values_list("name", "id")) if names else {}


HELD = "assigned to an officer: stays with them (the action does not say reassign)"


def _apply_one(placed: Placed, conversation: Conversation, message: Message, subject, evaluation: Evaluation,
               found: dict, tag_ids: dict, generation: str, now: datetime, *, followup: bool = False) -> RoutingTrace:
    decided: set[str] = set()
    entries = []
    for rule in evaluation.matched:
        actions = []
        for action in rule.actions:
            entry = dict(action)
            actions.append(entry)
            kind = action["type"]
            if rule.shadow:
                entry["status"] = SHADOW
                continue
            slot = kind if kind not in ("add_tags", "mark_spam") else None
            if slot and slot in decided:
                entry["status"] = OVERRIDDEN
                continue
            entry["status"] = DONE
            held = followup and conversation.assignee_id is not None and not action.get("reassign")
            if kind == "route_to_team":
                team = found["team"].get(action["team"])
                if team is None:
                    entry.update(status=SKIPPED, why="team does not exist")
                    continue
                entry["team_name"] = team.name
                if followup and team.id == conversation.team_id:
                    entry["why"] = "already in the team"
                elif held:
                    entry.update(status=SKIPPED, why=HELD, held=True)
                    continue
                else:
                    if followup:
                        conversation.assignee, conversation.assigned_at = None, None
                    conversation.team = team
                    conversation.routed_by = routed_by_rule(rule)
            elif kind == "set_priority":
                wanted = PRIORITIES[action["value"]]
                if followup and wanted < conversation.priority:
                    entry.update(status=SKIPPED, why="a follow-up never lowers the priority")
                    continue
                conversation.priority = wanted
            elif kind == "add_tags":
                ids = [tag_ids[n] for n in action["tags"] if n in tag_ids]
                placed.tags.setdefault(conversation.id, []).extend(ids)
                if len(ids) < len(action["tags"]):
                    entry["why"] = "some tags do not exist"
            elif kind == "assign_to":
                user = found["user"].get(action["user"])
                if user is None:
                    entry.update(status=SKIPPED, why="officer does not exist or is deactivated")
                    continue
                if followup and conversation.assignee_id == user.pk:
                    entry["why"] = "already assigned to them"
                    placed.assign_entries.pop(conversation.id, None)
                    placed.explicit_assignee.pop(conversation.id, None)
                    decided.add(slot)
                    continue
                if held:
                    entry.update(status=SKIPPED, why=HELD, held=True)
                    continue
                placed.explicit_assignee[conversation.id] = user
                placed.assign_entries[conversation.id] = entry
            elif kind == "auto_reply":
                saved = found["saved_reply"].get(action["saved_reply"])
                if saved is None:
                    entry.update(status=SKIPPED, why="saved reply does not exist")
                    continue
                placed.auto_replies[conversation.id] = (saved, action.get("delay_minutes", 0), entry)
            elif kind == "mark_spam":
                if held:
                    entry.update(status=SKIPPED, why=HELD, held=True)
                    continue
                conversation.status = Conversation.Status.SPAM
            elif kind == "apply_sla_policy":
                policy = found["policy"].get(action["policy"])
                if policy is None:
                    entry.update(status=SKIPPED, why="SLA policy does not exist or is inactive")
                    continue
                placed.policies[conversation.id] = (policy, rule.version_id)
            if slot and entry["status"] == DONE:
                decided.add(slot)
        entries.append({
            "rule": rule.id, "version": rule.version, "name": rule.name, "mode": rule.mode, "stop": rule.stop,
            "conditions": explain(rule.tree, subject), "actions": actions,
        })
    return RoutingTrace(
        conversation_id=conversation.id, message_id=message.id, rules_generation=generation or "",
        tried=evaluation.tried, matches=entries, evaluated_at=now,
        # An expression that hit its time guard counted as "no match": say where.
        outcome={"regex_timeouts": subject.timeouts} if subject.timeouts else {},
    )
