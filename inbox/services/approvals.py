"""Reply approvals: which replies wait for a supervisor, and the life of a held reply.

Admins decide who needs approval (docs/approvals.md), on three independent triggers:

- the channel account's ``reply_approval`` is ``unpermitted``: every reply (public or
  private) of an officer who lacks the ``publish_without_approval`` object permission on that
  account (django-guardian, granted by admins on the account's "Object permissions" page) —
  the juniors;
- the account's ``reply_approval`` is ``all_public``: every public reply through it;
- the conversation carries a tag marked ``requires_approval`` (elections, emergency...): its
  public replies (what the whole network reads; a private message answers one citizen).

Whoever may approve the reply (a supervisor of the conversation's team) is never held: they
would approve their own draft. The held reply is a ``ReplyDraft`` on the server; nothing is
sent and no SLA clock stops or pauses until it is approved (then the outbound path sends it
once: ``channels_adapters/approvals.py``). This module is the core's half: rules, storing,
returning, withdrawing, what a supervisor may see. It imports no platform code.
"""

from __future__ import annotations

from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from inbox import realtime
from inbox.audit import audit_record
from inbox.models import ChannelAccount, Conversation, Message, ReplyApproval, ReplyDraft
from inbox.permissions import REPLY, SUPERVISE, sees_unrouted, team_ids_for_user, user_has_team_perm
from inbox.services.notifications import notification_for_draft

PUBLISH_PERM = "inbox.publish_without_approval"
REASON_ACCOUNT = "account"
REASON_OFFICER = "officer"
TAG_PREFIX = "tag:"


class DraftNotPending(ValueError):
    """The draft was already approved, returned, withdrawn or refused (someone else acted)."""


class DraftNotSendable(Exception):
    """The approved draft cannot be sent; ``draft.outcome_reason`` says why (it is recorded)."""

    def __init__(self, draft: ReplyDraft):
        self.draft = draft
        super().__init__(draft.outcome_reason)


def user_may_approve(user, conversation: Conversation) -> bool:
    """Supervisors of the conversation's team (global supervisors for unrouted ones)."""
    if user is None:
        return False
    if conversation.team_id is None:
        return sees_unrouted(user)
    return user_has_team_perm(user, conversation.team, SUPERVISE)


def reply_approval_reasons(*, conversation: Conversation, user, visibility: str) -> list[str]:
    """Why this reply must wait for approval; empty when it may go out at once.

    Costs at most two small queries (the tags, the user's object permission), and none for a
    private reply on an account without a rule.
    """
    account: ChannelAccount = conversation.account
    if user is None or user_may_approve(user, conversation):
        return []
    public = visibility == Message.Visibility.PUBLIC
    reasons: list[str] = []
    if account.reply_approval == ReplyApproval.ALL_PUBLIC and public:
        reasons.append(REASON_ACCOUNT)
    elif account.reply_approval == ReplyApproval.UNPERMITTED and not user.has_perm(PUBLISH_PERM, account) \
            and not user.has_perm(PUBLISH_PERM):
        reasons.append(REASON_OFFICER)
    if not public:
        return reasons
    reasons += [TAG_PREFIX + slug for slug in conversation.tags.filter(requires_approval=True)
                .order_by("slug").values_list("slug", flat=True)]
    return reasons


def reply_draft_hold(
    *, conversation: Conversation, user, text: str, option: str, visibility: str, reasons: list[str],
    last_seen_message_id: int | None, saved_reply=None, confirm_public: bool = False,
) -> ReplyDraft:
    """Store the reply as a draft waiting for approval (inside the reply's transaction).

    The author's open draft on this conversation (waiting or returned) is replaced by the new
    text: a rewrite after a return goes back to the supervisors as the same draft.
    """
    now = timezone.now()
    if last_seen_message_id is None:
        # An API client that sent no id wrote against the conversation as it is now.
        last_seen_message_id = conversation.messages.order_by("-id").values_list("id", flat=True).first() or 0
    fields = {
        "text": text, "option": option, "visibility": visibility, "reasons": reasons,
        "last_seen_message_id": last_seen_message_id, "saved_reply": saved_reply,
        "confirm_public": confirm_public, "status": ReplyDraft.Status.PENDING, "submitted_at": now,
        "updated_at": now,
    }
    draft = (
        ReplyDraft.objects.select_for_update()
        .filter(conversation=conversation, author=user, status__in=ReplyDraft.OPEN_STATUSES).first()
    )
    if draft is None:
        draft = ReplyDraft.objects.create(conversation=conversation, author=user, created_at=now, **fields)
        verb = "reply_draft.submit"
    else:
        previous = draft.status
        for field, value in fields.items():
            setattr(draft, field, value)
        draft.save(update_fields=[*fields, "updated_at"])
        verb = "reply_draft.resubmit" if previous == ReplyDraft.Status.RETURNED else "reply_draft.update"
    audit_record(user, verb, draft, conversation=conversation.id, reasons=reasons, visibility=visibility,
                 option=option, last_seen_message_id=last_seen_message_id)
    _announce_on_commit(draft)
    return draft


def reply_draft_return(*, draft: ReplyDraft, user, comment: str) -> ReplyDraft:
    """A supervisor sends the draft back to its author with a comment; nothing is sent."""
    comment = comment.strip()
    if not comment:
        raise ValueError("Say what to change: a returned draft needs a comment.")
    _require_approver(user, draft.conversation)
    now = timezone.now()
    with transaction.atomic():
        returned = ReplyDraft.objects.filter(id=draft.id, status=ReplyDraft.Status.PENDING).update(
            status=ReplyDraft.Status.RETURNED, reviewer=user, review_comment=comment, reviewed_at=now, updated_at=now,
        )
        if not returned:
            raise DraftNotPending("This draft is no longer waiting for approval.")
        draft.refresh_from_db()
        audit_record(user, "reply_draft.return", draft, conversation=draft.conversation_id, comment=comment,
                     author=draft.author_id)
        notification_for_draft(draft, reviewer=user)
        _announce_on_commit(draft)
    return draft


def reply_draft_withdraw(*, draft: ReplyDraft, user) -> ReplyDraft:
    """The author takes back their open draft (they will answer otherwise, or not at all)."""
    if draft.author_id != getattr(user, "pk", None):
        raise PermissionDenied("Only the author can withdraw a draft.")
    now = timezone.now()
    with transaction.atomic():
        withdrawn = ReplyDraft.objects.filter(id=draft.id, status__in=ReplyDraft.OPEN_STATUSES).update(
            status=ReplyDraft.Status.WITHDRAWN, updated_at=now,
        )
        if not withdrawn:
            raise DraftNotPending("This draft is no longer open.")
        draft.refresh_from_db()
        audit_record(user, "reply_draft.withdraw", draft, conversation=draft.conversation_id)
        _announce_on_commit(draft)
    return draft


def reply_draft_refuse(draft: ReplyDraft, *, user, status: str, reason: str, **facts) -> ReplyDraft:
    """Record that an approved draft could not be sent, and why (inside the approval's
    transaction, with the draft row locked: ``channels_adapters/approvals.py``)."""
    now = timezone.now()
    draft.status, draft.outcome_reason = status, reason
    draft.reviewer, draft.reviewed_at, draft.updated_at = user, now, now
    draft.save(update_fields=["status", "outcome_reason", "reviewer", "reviewed_at", "updated_at"])
    audit_record(user, f"reply_draft.{status}", draft, conversation=draft.conversation_id, reason=reason, **facts)
    _announce_on_commit(draft)
    return draft


def reply_draft_mark_approved(draft: ReplyDraft, *, user, message: Message, edited: bool) -> ReplyDraft:
    now = timezone.now()
    draft.status, draft.message = ReplyDraft.Status.APPROVED, message
    draft.reviewer, draft.reviewed_at, draft.updated_at = user, now, now
    draft.save(update_fields=["status", "message", "reviewer", "reviewed_at", "updated_at"])
    audit_record(user, "reply_draft.approve", draft, conversation=draft.conversation_id, message_id=message.id,
                 edited=edited, author=draft.author_id, **({"text_as_written": draft.text} if edited else {}))
    notification_for_draft(draft, reviewer=user)
    _announce_on_commit(draft)
    return draft


def draft_superseding_messages(draft: ReplyDraft) -> QuerySet[Message]:
    """What came after the message the draft was written against: the citizen writing again,
    or an answer someone sent. Notes, automatic acknowledgements and replies that never left
    (failed, cancelled) do not supersede a draft."""
    return (
        draft.conversation.messages.filter(id__gt=draft.last_seen_message_id)
        .filter(Q(direction=Message.Direction.INBOUND)
                | Q(direction=Message.Direction.OUTBOUND, automatic=""))
        .exclude(delivery_status__in=[Message.Delivery.FAILED, Message.Delivery.CANCELLED])
        .select_related("author_contact", "author_user")
        .order_by("sent_at", "id")
    )


# --- Reads -----------------------------------------------------------------------------------


def drafts_to_approve(user) -> QuerySet[ReplyDraft]:
    """Drafts waiting for this user's approval: those of the teams they supervise."""
    if not user.is_authenticated:
        return ReplyDraft.objects.none()
    visible = Q(conversation__team_id__in=team_ids_for_user(user, SUPERVISE))
    if sees_unrouted(user):
        visible |= Q(conversation__team__isnull=True)
    return ReplyDraft.objects.filter(visible, status=ReplyDraft.Status.PENDING)


def draft_for_approver(user, pk: int) -> ReplyDraft:
    """Raises ReplyDraft.DoesNotExist (a 404) for drafts outside the teams the user may see.

    A draft of a team the user sees but does not supervise exists (a 403 on acting)."""
    visible = Q(conversation__team_id__in=team_ids_for_user(user))
    if sees_unrouted(user):
        visible |= Q(conversation__team__isnull=True)
    return ReplyDraft.objects.select_related(
        "conversation", "conversation__account", "conversation__team", "conversation__contact", "author",
        "reviewer", "saved_reply",
    ).filter(visible).get(pk=pk)


def open_draft_for(conversation: Conversation, user) -> ReplyDraft | None:
    """The user's own draft on the conversation that the composer shows: open, or the last
    one closed without being sent (so the author reads why), until they write again."""
    if not user_has_team_perm(user, conversation.team, REPLY):
        return None
    draft = (
        conversation.reply_drafts.filter(author=user).exclude(status=ReplyDraft.Status.WITHDRAWN)
        .select_related("reviewer").order_by("-updated_at", "-id").first()
    )
    if draft is None or draft.status == ReplyDraft.Status.APPROVED:
        return draft if draft is not None and _recent(draft) else None
    return draft


def _recent(draft: ReplyDraft) -> bool:
    return draft.reviewed_at is not None and (timezone.now() - draft.reviewed_at).total_seconds() < 3600


def _require_approver(user, conversation: Conversation) -> None:
    if not user_may_approve(user, conversation):
        raise PermissionDenied("Only a supervisor of the team can approve or return its drafts.")


# --- Live ------------------------------------------------------------------------------------


def _announce_on_commit(draft: ReplyDraft) -> None:
    transaction.on_commit(partial(draft_announce, draft.id, draft.conversation_id, draft.author_id, draft.status))


def draft_announce(draft_id: int, conversation_id: int, author_id: int, status: str) -> None:
    """Tell the author (their own group), the supervisors (the team's group, ids only) and
    the open conversation pages that a draft changed."""
    layer = get_channel_layer()
    team_id = Conversation.objects.filter(id=conversation_id).values_list("team_id", flat=True).first()
    group = f"team-{team_id}" if team_id else "team-unrouted"
    from inbox.templatetags.approvals_nav import approvals_pending_forget

    approvals_pending_forget(team_id)  # the top bar's count of drafts waiting (cached per team)
    event = {"draft": draft_id, "conversation": conversation_id, "status": status}
    if layer is not None:
        try:
            async_to_sync(_send)(layer, [
                (f"user-{author_id}", {"type": "draft.changed", **event}),
                (group, {"type": "approvals.changed", "group": group, **event}),
            ])
        except Exception:  # a live update is a courtesy: never fail the write that caused it
            realtime.logger.exception("approvals: could not publish draft %s", draft_id)
    realtime.conversations_changed([conversation_id])


async def _send(layer, messages) -> None:
    for group, message in messages:
        await layer.group_send(group, message)
