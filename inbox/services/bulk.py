"""Bulk actions on a queue selection: assign, tag, resolve, mark as spam — and the shape of
the summary that the bulk reply (``channels_adapters/bulk.py``) fills too.

Each conversation goes through the same service as on its own page (its permission checks
and its audit row); a conversation the user cannot see is "not found", one they may not
change is "refused" with the reason. The whole run is audited once more (``bulk.<action>``,
on the acting user) with every outcome, so the trail shows the selection as one act.
Every conversation is its own transaction: one refusal never undoes the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from inbox.audit import audit_record
from inbox.limits import BULK_MAX_CONVERSATIONS
from inbox.models import Conversation, Tag
from inbox.selectors import conversations_for_user
from inbox.services.conversations import (
    AssignmentRefused,
    conversation_assign,
    conversation_status_set,
    conversation_tags_set,
)

# Outcomes, per conversation.
DONE = "done"  # changed as asked
UNCHANGED = "unchanged"  # it already was
SENT = "sent"  # a reply queued for sending
HELD_FOR_APPROVAL = "held_for_approval"  # a reply waiting for a supervisor (a draft)
HELD_BACK = "held_back"  # nothing sent: a guard stopped it (personal data, window, collision...)
REFUSED = "refused"  # the user may not do this here
NOT_FOUND = "not_found"  # not a conversation the user can see


@dataclass
class BulkOutcome:
    conversation_id: int
    outcome: str
    reason: str = ""
    message_id: int | None = None
    draft_id: int | None = None

    def as_dict(self) -> dict:
        return {"conversation": self.conversation_id, "outcome": self.outcome, "reason": self.reason,
                "message": self.message_id, "draft": self.draft_id}


@dataclass
class BulkSummary:
    action: str
    outcomes: list[BulkOutcome] = field(default_factory=list)

    def add(self, conversation_id: int, outcome: str, reason: str = "", **ids) -> None:
        self.outcomes.append(BulkOutcome(conversation_id, outcome, reason, **ids))

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        return counts

    def changed_ids(self) -> list[int]:
        return [o.conversation_id for o in self.outcomes if o.outcome in (DONE, SENT)]

    def as_dict(self) -> dict:
        return {"action": self.action, "counts": self.counts(), "results": [o.as_dict() for o in self.outcomes]}


def bulk_conversations(user, ids) -> tuple[list[Conversation], list[int]]:
    """The selection as the user may see it (in the order given) and the ids they cannot."""
    wanted = list(dict.fromkeys(int(i) for i in ids))[:BULK_MAX_CONVERSATIONS]
    found = {
        c.pk: c for c in conversations_for_user(user).filter(pk__in=wanted)
        .select_related("account", "account__calendar", "contact", "team", "assignee")
    }
    return [found[i] for i in wanted if i in found], [i for i in wanted if i not in found]


def bulk_apply(*, user, action: str, conversation_ids, assignee=None, tag: Tag | None = None) -> BulkSummary:
    """``assign`` (to ``assignee``), ``tag`` (add ``tag``), ``resolve`` or ``spam``.

    The caller keeps the SLA clocks in step for the conversations whose status changed
    (``summary.changed_ids()``): the core does not call routing.
    """
    summary = BulkSummary(action)
    conversations, missing = bulk_conversations(user, conversation_ids)
    for conversation in conversations:
        try:
            if action == "assign":
                if conversation.assignee_id == getattr(assignee, "pk", None):
                    summary.add(conversation.pk, UNCHANGED)
                    continue
                conversation_assign(conversation=conversation, user=user, assignee=assignee)
            elif action == "tag":
                before = set(conversation.tags.values_list("pk", flat=True))
                if tag.pk in before:
                    summary.add(conversation.pk, UNCHANGED)
                    continue
                conversation_tags_set(conversation=conversation, user=user, add=[tag])
            elif action in ("resolve", "spam"):
                status = Conversation.Status.RESOLVED if action == "resolve" else Conversation.Status.SPAM
                if conversation.status == status:
                    summary.add(conversation.pk, UNCHANGED)
                    continue
                conversation_status_set(conversation=conversation, user=user, status=status)
            else:
                raise ValueError(f"unknown bulk action {action!r}")
        except (PermissionDenied, AssignmentRefused, ValueError) as exc:
            summary.add(conversation.pk, REFUSED, str(exc) or _("Not allowed."))
            continue
        summary.add(conversation.pk, DONE)
    for pk in missing:
        summary.add(pk, NOT_FOUND, _("No such conversation in your teams."))
    bulk_audit(user, summary, assignee=getattr(assignee, "pk", None), tag=getattr(tag, "slug", None))
    return summary


def bulk_audit(user, summary: BulkSummary, **facts) -> None:
    """One row for the selection as a whole (each conversation has its own rows as well)."""
    audit_record(user, f"bulk.{summary.action}", user, counts=summary.counts(),
                 results=[o.as_dict() for o in summary.outcomes], **{k: v for k, v in facts.items() if v is not None})
