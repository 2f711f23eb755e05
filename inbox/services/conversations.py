"""Officers' actions on conversations: replies (queued), notes, status, assignment."""

from __future__ import annotations

import re
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from inbox import realtime
from inbox.audit import audit_record
from inbox.models import Conversation, Message, Tag, Team
from inbox.permissions import REPLY, SUPERVISE, team_officers, user_has_team_perm
from inbox.services.notifications import notifications_for_mentions
from inbox.services.text import preview as _preview


def message_reply_create(
    *, conversation: Conversation, user, text: str, visibility: str, kind: str, in_reply_to: str = "",
    client_token: str | None = None, audit: dict | None = None, saved_reply=None,
) -> Message:
    """Queue an answer to the citizen; the send task delivers it through the same channel.

    ``saved_reply`` is the saved reply the text came from (a holding reply counts as one).
    Raises IntegrityError when a reply with the same ``client_token`` exists (a double submit).
    """
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation, account_id=conversation.account_id,
        direction=Message.Direction.OUTBOUND, kind=kind, visibility=visibility,
        in_reply_to=in_reply_to, author_user=user, text=text, sent_at=now,
        delivery_status=Message.Delivery.QUEUED, next_attempt_at=now, client_token=client_token or None,
        saved_reply=saved_reply,
    )
    if saved_reply is not None:
        audit = {**(audit or {}), "saved_reply": saved_reply.pk, "saved_reply_kind": saved_reply.kind}
    updates = {"last_message_at": now, "last_message_preview": _preview(text), "updated_at": now}
    if conversation.status == Conversation.Status.NEW:
        updates["status"] = Conversation.Status.OPEN
    # Answering a resolved conversation reopens it, and says so (the officer's page, the audit).
    reopened = conversation.status == Conversation.Status.RESOLVED
    if reopened:
        updates["status"], updates["resolved_at"] = Conversation.Status.OPEN, None
    if conversation.woken_at is not None:
        updates["woken_at"] = None  # acted on: it leaves the top of the queue
    if conversation.assignee_id is None:
        updates["assignee"], updates["assigned_at"] = user, now
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    for field, value in updates.items():
        setattr(conversation, field, value)
    audit_record(user, "message.reply", conversation, message_id=message.id, visibility=visibility, **(audit or {}))
    if reopened:
        audit_record(user, "conversation.reopen", conversation, previous=Conversation.Status.RESOLVED,
                     status=Conversation.Status.OPEN, reason="reply", message_id=message.id)
    message.reopened_conversation = reopened
    return message


class ReplyCollision(Exception):
    """The conversation moved on after the last message the officer saw: do not send.

    ``newer`` are those messages, oldest first; ``last_message_id`` is the id to send again
    with once the officer has been shown them and still wants to send.
    """

    def __init__(self, newer: list[Message]):
        self.newer = newer
        self.last_message_id = max(m.id for m in newer)
        super().__init__(f"{len(newer)} message(s) arrived or were sent after the last one you saw.")


class UnknownLastSeenMessage(ValueError):
    """``last_seen_message_id`` is not a message of this conversation (a client's mistake)."""


# What changes the answer a citizen should get: a new message from the citizen, or a reply
# anyone (a colleague, an automatic reply) already sent them. A colleague's internal note
# never reaches the citizen, so it does not stop a reply; it is in the timeline to read.
REPLY_COLLIDING_DIRECTIONS = (Message.Direction.INBOUND, Message.Direction.OUTBOUND)


def message_reply_collisions_check(
    *, conversation: Conversation, user, last_seen_message_id: int | None, client_token: str | None = None,
) -> None:
    """Lock the conversation for a reply; raise ReplyCollision if it moved on unseen.

    Call it inside the transaction that then creates the reply: the row lock is held until
    that transaction ends, so of two officers pressing Send at the same moment the second
    waits, then sees the first one's reply and is stopped — "check, then act" cannot race.
    ``last_seen_message_id=None`` (an older client) skips the check but still takes the lock;
    0 means the officer saw no message at all. A resubmit of a reply already stored (same
    ``client_token``) is not a collision: the caller returns the stored reply.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("message_reply_collisions_check must run inside the reply's transaction")
    # Who may not answer learns nothing about the conversation's newer messages here.
    _require_team_perm(user, conversation.team, REPLY, "You cannot answer this team's conversations.")
    # Re-read what the reply's bookkeeping depends on: the page was loaded before the lock,
    # and a colleague may have answered, resolved or taken the conversation since.
    locked = (
        Conversation.objects.select_for_update()
        .only("status", "assignee_id", "resolved_at", "first_response_at", "updated_at", "woken_at")
        .get(pk=conversation.pk)
    )
    for field in ("status", "assignee_id", "resolved_at", "first_response_at", "updated_at", "woken_at"):
        setattr(conversation, field, getattr(locked, field))
    if last_seen_message_id is None:
        return
    if client_token and conversation.messages.filter(client_token=client_token).exists():
        return
    if last_seen_message_id and not conversation.messages.filter(id=last_seen_message_id).exists():
        raise UnknownLastSeenMessage(f"Message {last_seen_message_id} is not part of this conversation.")
    # Ids, not timestamps: a platform's sent_at can be older than what the officer saw (late
    # delivery), yet the message is news to them. A citizen message whose ingest transaction
    # commits after a later id was shown could slip through; that window is one ingest batch.
    newer = list(
        conversation.messages.filter(id__gt=last_seen_message_id, direction__in=REPLY_COLLIDING_DIRECTIONS)
        .select_related("author_contact", "author_user")
        .order_by("sent_at", "id")
    )
    if newer:
        raise ReplyCollision(newer)


class AssignmentRefused(ValueError):
    """The chosen officer cannot hold the conversation (not an officer of the team)."""


def _require_team_perm(user, team: Team | None, perm: str, message: str) -> None:
    """``user=None`` is the system itself (routing, imports, scripts): always allowed."""
    if user is not None and not user_has_team_perm(user, team, perm):
        raise PermissionDenied(message)


def _publish_on_commit(conversation: Conversation) -> None:
    transaction.on_commit(partial(realtime.conversations_changed, [conversation.id]))


# "@username" in a note, not inside an e-mail address (a word character or @ before it).
MENTION = re.compile(r"(?<![\w@])@([\w.+-]*[\w+-])")


class MentionRefused(ValueError):
    """A note names someone who is not an officer of the conversation's team."""

    def __init__(self, names: list[str]):
        self.names = names
        super().__init__("Only officers of the team can be mentioned: " + ", ".join(f"@{n}" for n in names))


def note_mentions(conversation: Conversation, text: str) -> list:
    """The team's officers a note mentions (``@username``), in order of first mention.

    Raises MentionRefused for names that are not officers of the conversation's team: their
    mention would tell someone outside the team about a conversation they cannot see.
    """
    names = list(dict.fromkeys(m.group(1) for m in MENTION.finditer(text)))
    if not names:
        return []
    officers = {u.get_username().lower(): u for u in team_officers(conversation.team)} if conversation.team else {}
    unknown = [n for n in names if n.lower() not in officers]
    if unknown:
        raise MentionRefused(unknown)
    return list({officers[n.lower()].pk: officers[n.lower()] for n in names}.values())


def conversation_note_add(*, conversation: Conversation, user, text: str) -> Message:
    """An internal note; the officers it mentions (``@username``) are told live."""
    _require_team_perm(user, conversation.team, REPLY, "You cannot work on this team's conversations.")
    mentioned = note_mentions(conversation, text)
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation, account_id=conversation.account_id,
            direction=Message.Direction.NOTE, kind=Message.Kind.NOTE,
            visibility=Message.Visibility.INTERNAL, author_user=user, text=text, sent_at=timezone.now(),
        )
        audit_record(user, "conversation.note", conversation, message_id=message.id,
                     **({"mentions": [u.pk for u in mentioned]} if mentioned else {}))
        _publish_on_commit(conversation)
        others = [u.pk for u in mentioned if u.pk != getattr(user, "pk", None)]
        if others:
            # Kept until read (an officer offline now sees it on their next page): docs/working-faster.md.
            notifications_for_mentions(user_ids=others, conversation=conversation, author=user)
            author = (user.get_full_name() or user.get_username()) if user is not None else ""
            transaction.on_commit(partial(mentions_announce, others, conversation.id, message.id, author))
    message.mentioned = mentioned
    return message


def mentions_announce(user_ids: list[int], conversation_id: int, message_id: int, author: str) -> None:
    """Tell each mentioned officer (their own group ``user-<id>``): ids and the colleague's
    name, never the note or citizen data. The browser shows a toast and lists it."""
    layer = get_channel_layer()
    if layer is None:
        return
    event = {"type": "mention.notification", "conversation": conversation_id, "message": message_id,
             "author": author}

    async def send():
        for user_id in user_ids:
            await layer.group_send(f"user-{user_id}", event)

    try:
        async_to_sync(send)()
    except Exception:  # a live update is a courtesy: never fail the write that caused it
        realtime.logger.exception("mentions: could not tell users %s", user_ids)


def conversation_priority_set(*, conversation: Conversation, user, priority: int) -> Conversation:
    if priority not in Conversation.Priority.values:
        raise ValueError(f"unknown priority {priority!r}")
    _require_team_perm(user, conversation.team, REPLY, "You cannot work on this team's conversations.")
    if conversation.priority == priority:
        return conversation
    previous = conversation.priority
    conversation.priority, conversation.updated_at = priority, timezone.now()
    with transaction.atomic():
        conversation.save(update_fields=["priority", "updated_at"])
        audit_record(user, "conversation.priority", conversation, previous=previous, priority=priority)
        _publish_on_commit(conversation)
    return conversation


def conversation_tags_set(*, conversation: Conversation, user, add=(), remove=(), replace=None) -> list[Tag]:
    """Add and remove tags (or ``replace`` them all); returns the tags now on it. Audited
    with what changed; a tag marked *requires approval* then holds public replies."""
    from inbox.limits import TAGS_MAX_PER_CONVERSATION

    _require_team_perm(user, conversation.team, REPLY, "You cannot work on this team's conversations.")
    with transaction.atomic():
        current = {t.pk: t for t in conversation.tags.all()}
        wanted = dict(current)
        if replace is not None:
            wanted = {t.pk: t for t in replace}
        for tag in add:
            wanted[tag.pk] = tag
        for tag in remove:
            wanted.pop(tag.pk, None)
        if len(wanted) > TAGS_MAX_PER_CONVERSATION:
            raise ValueError(f"A conversation can carry {TAGS_MAX_PER_CONVERSATION} tags at most.")
        added = [t for pk, t in wanted.items() if pk not in current]
        removed = [t for pk, t in current.items() if pk not in wanted]
        if added:
            conversation.tags.add(*added)
        if removed:
            conversation.tags.remove(*removed)
        if added or removed:
            Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
            audit_record(user, "conversation.tags", conversation, added=[t.slug for t in added],
                         removed=[t.slug for t in removed])
            _publish_on_commit(conversation)
    return sorted(wanted.values(), key=lambda t: t.name)


def conversation_status_set(*, conversation: Conversation, user, status: str) -> Conversation:
    if status not in Conversation.Status.values:
        raise ValueError(f"unknown status {status!r}")
    _require_team_perm(user, conversation.team, REPLY, "You cannot work on this team's conversations.")
    if conversation.status == status:
        return conversation
    previous = conversation.status
    conversation.status = status
    conversation.resolved_at = timezone.now() if status == Conversation.Status.RESOLVED else None
    conversation.updated_at = timezone.now()
    # Acted on: out of the woken-first block; a snooze ends when another status is set.
    conversation.woken_at = None
    if status != Conversation.Status.SNOOZED:
        conversation.snoozed_until = None
    with transaction.atomic():
        conversation.save(update_fields=["status", "resolved_at", "updated_at", "woken_at", "snoozed_until"])
        audit_record(user, "conversation.status", conversation, previous=previous, status=status)
        _publish_on_commit(conversation)
    return conversation


def conversation_assign(*, conversation: Conversation, user, assignee, team: Team | None = None) -> Conversation:
    """Assign (or unassign, with ``assignee=None``) and optionally move to another team.

    Anyone who may answer for the team can take a conversation for themselves; giving it to
    someone else, or moving it, is for supervisors of the teams involved.
    """
    target = team or conversation.team
    moving = team is not None and team.id != conversation.team_id
    if assignee is not None and assignee == user and not moving:
        _require_team_perm(user, conversation.team, REPLY, "You cannot work on this team's conversations.")
    else:
        _require_team_perm(user, conversation.team, SUPERVISE, "Only a supervisor of the team can assign its conversations.")
        if moving:
            _require_team_perm(user, team, SUPERVISE, "You can only move conversations to teams you supervise.")
    # Whoever may answer for the team may hold its conversations: its officers and
    # supervisors, and those who hold the permission globally (admins, the demo's admin).
    if assignee is not None and (target is None or not user_has_team_perm(assignee, target, REPLY)):
        raise AssignmentRefused(f"{assignee.get_username()} is not an officer of {target or 'any team yet'}.")
    previous = (conversation.team_id, conversation.assignee_id)
    conversation.team = target
    conversation.assignee = assignee
    conversation.updated_at = timezone.now()
    conversation.assigned_at = conversation.updated_at if assignee is not None else None
    with transaction.atomic():
        conversation.save(update_fields=["team", "assignee", "assigned_at", "updated_at"])
        audit_record(
            user, "conversation.assign", conversation,
            previous_team=previous[0], previous_assignee=previous[1],
            team=conversation.team_id, assignee=getattr(assignee, "pk", None),
        )
        _publish_on_commit(conversation)
    return conversation


def message_automatic_create(
    *, conversation: Conversation, text: str, visibility: str, kind: str, reason: str, saved_reply=None,
    in_reply_to: str = "", send_at=None,
) -> Message:
    """Queue a reply the system sends by itself (routing.autoreply decides when).

    It has no author, is marked ``automatic``, leaves the conversation's status and assignee
    alone, and is not due before ``send_at`` (a delayed reply, cancelled at send time if an
    officer answered first: ``message_claim_for_send``).
    """
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation, account_id=conversation.account_id,
        direction=Message.Direction.OUTBOUND, kind=kind, visibility=visibility,
        in_reply_to=in_reply_to, author_user=None, text=text, sent_at=send_at or now,
        delivery_status=Message.Delivery.QUEUED, next_attempt_at=send_at or now,
        saved_reply=saved_reply, automatic=reason,
    )
    audit_record(None, "message.automatic", conversation, message_id=message.id, reason=reason,
                 saved_reply=getattr(saved_reply, "pk", None), send_at=(send_at or now).isoformat())
    _publish_on_commit(conversation)
    return message


def conversation_reachability_set(conversation: Conversation, *, reachable: bool, reason: str = "", at=None) -> bool:
    """The platform says whether the citizen can receive the account's messages here.

    Unreachable (a Telegram user blocked the bot): replies are refused with ``reason`` until
    the platform says the citizen is reachable again; the first time and reason are kept
    while it lasts. Only the conversation is marked, never the account. Returns whether
    anything changed; each change is audited.
    """
    now = timezone.now()
    rows = Conversation.objects.filter(pk=conversation.pk)
    if reachable:
        changed = rows.filter(unreachable_at__isnull=False).update(
            unreachable_at=None, unreachable_reason="", updated_at=now)
    else:
        changed = rows.filter(unreachable_at__isnull=True).update(
            unreachable_at=at or now, unreachable_reason=reason[:300], updated_at=now)
    if changed:
        conversation.unreachable_at = None if reachable else (at or now)
        conversation.unreachable_reason = "" if reachable else reason[:300]
        audit_record(None, "conversation.reachable" if reachable else "conversation.unreachable", conversation,
                     reason=reason[:300])
        _publish_on_commit(conversation)
    return bool(changed)
