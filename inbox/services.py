"""Writes to the domain. Views, the API and tasks call these; nothing else writes.

The ingest path is set-based: one batch of ``InboundMessage`` becomes a handful of
statements whatever its size, and uniqueness constraints make every step safe to repeat.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from inbox import realtime
from inbox.audit import audit_record, audit_record_many
from inbox.db import insert_ignoring_conflicts, update_rows
from inbox.inbound import Action, InboundMessage, IngestResult
from inbox.language import language_detect
from inbox.models import (
    ChannelAccount,
    Contact,
    Conversation,
    DeliveryAttempt,
    Message,
    MessageRevision,
    MessageTombstone,
    QuarantinedItem,
    RawEvent,
    Team,
)
from inbox.permissions import REPLY, SUPERVISE, team_officers, user_has_team_perm
from inbox.redaction import redact_secrets

logger = logging.getLogger(__name__)

PREVIEW_LENGTH = 200


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 1] + "…"


# --- Receipt ---------------------------------------------------------------------------------


def raw_event_record(
    *, platform: str, body: bytes, headers: dict, source: str, account: ChannelAccount | None = None
) -> RawEvent:
    return RawEvent.objects.create(
        platform=platform, account=account, source=source, body=body, headers=headers
    )


def raw_events_claim(ids: Sequence[int]) -> list[RawEvent]:
    """Lock those of the given events that are still unprocessed. Inside a transaction.

    ``SKIP LOCKED`` lets several workers drain the backlog side by side: an event another
    worker holds is simply not ours.
    """
    return list(
        RawEvent.objects.filter(id__in=list(ids), processed_at__isnull=True)
        .order_by("id").only("id", "platform", "account_id", "replayed_at").select_for_update(skip_locked=True)
    )


def raw_events_mark_processed(events: Iterable[RawEvent], *, error: str = "") -> None:
    ids = [e.id for e in events]
    RawEvent.objects.filter(id__in=ids).update(
        processed_at=timezone.now(), error=error, attempts=F("attempts") + 1
    )


def raw_event_mark_failed(event: RawEvent, error: str) -> None:
    """A failure that may pass (database trouble): counted, left pending for the sweep."""
    RawEvent.objects.filter(id=event.id).update(error=redact_secrets(error)[:2000], attempts=F("attempts") + 1)


def raw_events_quarantine(events: Sequence[RawEvent], items: dict[int, list[tuple[str, str, object]]]) -> int:
    """Keep what could not be read of each event: ``items`` maps an event id to its
    ``(locator, reason, fragment)`` triples (locator "" for the whole delivery). Inside the
    ingest transaction.

    For an event read again after a replay, what is no longer quarantined is resolved and
    what still fails is counted; events never replayed cost no query when all was read.
    """
    now = timezone.now()
    replayed = [e.id for e in events if e.replayed_at is not None]
    open_items: dict[tuple[int, str], int] = {}
    if replayed:
        open_items = {
            (raw_id, locator): pk for pk, raw_id, locator in QuarantinedItem.objects.filter(
                raw_event_id__in=replayed, resolved_at__isnull=True
            ).values_list("id", "raw_event_id", "locator")
        }
    failing = {(raw_id, locator) for raw_id, triples in items.items() for locator, _, _ in triples}
    QuarantinedItem.objects.filter(id__in=[pk for key, pk in open_items.items() if key not in failing]).update(
        resolved_at=now
    )
    QuarantinedItem.objects.filter(id__in=[pk for key, pk in open_items.items() if key in failing]).update(
        attempts=F("attempts") + 1, last_attempt_at=now
    )
    by_id = {e.id: e for e in events}
    new = [
        QuarantinedItem(
            raw_event_id=raw_id, platform=by_id[raw_id].platform, account_id=by_id[raw_id].account_id,
            locator=locator[:200], reason=redact_secrets(reason)[:2000], fragment=_clean(fragment),
            created_at=now, last_attempt_at=now,
        )
        for raw_id, triples in items.items() for locator, reason, fragment in triples
        if (raw_id, locator) not in open_items
    ]
    # A resolved item that fails again (a regression) is reopened rather than duplicated.
    inserted = insert_ignoring_conflicts(QuarantinedItem, new, returning=["raw_event", "locator"])
    if len(inserted) < len(new):
        returned = set(inserted)
        for item in new:
            if (item.raw_event_id, item.locator) not in returned:
                QuarantinedItem.objects.filter(raw_event_id=item.raw_event_id, locator=item.locator).update(
                    resolved_at=None, reason=item.reason, attempts=F("attempts") + 1, last_attempt_at=now
                )
    return len(failing)


def raw_events_replay(ids: Iterable[int], *, actor, reason: str = "") -> list[int]:
    """Make read (or unreadable) events pending again, to be read by a fixed parser.

    Safe to repeat: what was stored is not stored twice (uniqueness on platform ids), and
    an edit or deletion already applied is a no-op. Audited per event.
    """
    with transaction.atomic():
        events = list(
            RawEvent.objects.select_for_update().filter(id__in=list(ids), processed_at__isnull=False).order_by("id")
        )
        now = timezone.now()
        RawEvent.objects.filter(id__in=[e.id for e in events]).update(
            processed_at=None, attempts=0, error="", replayed_at=now
        )
        audit_record_many(actor, "raw_event.replay", [
            (e, {"platform": e.platform, "previous_error": e.error[:200], "reason": reason}) for e in events
        ])
    return [e.id for e in events]


# --- Ingest ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    item: InboundMessage
    raw_event_id: int | None
    account: ChannelAccount


def messages_ingest(batch: Sequence[tuple[InboundMessage, int | None]]) -> IngestResult:
    """Store a batch of inbound items exactly once, threaded into conversations.

    ``batch`` pairs each item with the id of the RawEvent it came from. Items for unknown
    accounts are skipped (and logged); duplicates are skipped by the database.
    """
    if not batch:
        return IngestResult([], [], [], [], 0)
    with transaction.atomic():
        accounts = _accounts_for(item for item, _ in batch)
        creates: list[_Pending] = []
        changes: list[_Pending] = []
        skipped = 0
        seen: set[tuple] = set()
        for item, raw_id in batch:
            account = accounts.get((item.platform, item.account_external_id))
            if account is None:
                logger.warning(
                    "ingest: no %s account %r; item %s skipped",
                    item.platform, item.account_external_id, item.external_id,
                )
                skipped += 1
                continue
            # A create is one per message; every distinct change is kept (edit v2, then v3).
            key = (account.id, item.external_id, item.action)
            if item.action != Action.CREATE:
                key += (item.text, item.sent_at)
            if key in seen:
                skipped += 1
                continue
            seen.add(key)
            (creates if item.action == Action.CREATE else changes).append(
                _Pending(_nul_free(item), raw_id, account)
            )

        # Creates first, so that an edit or deletion in the same batch finds its message.
        new_messages, new_conversation_ids, touched = _creates_store(creates)
        skipped += len(creates) - len(new_messages)
        stored = {(m.account_id, m.external_id) for m in new_messages}
        duplicates = [p for p in creates if (p.account.id, p.item.external_id) not in stored]
        revised_ids, recreated, deferred = _apply_changes(changes)
        if recreated:
            more_messages, more_conversations, more_touched = _creates_store(recreated)
            new_messages += more_messages
            new_conversation_ids |= more_conversations
            touched |= more_touched
            revised_ids += _apply_changes(deferred)[0]
        revised_ids += _tombstones_apply(new_messages, duplicates)
        if revised_ids:  # an edit or deletion is news for the officers who have it open
            touched |= set(Message.objects.filter(id__in=revised_ids).values_list("conversation_id", flat=True))
    return IngestResult(
        new_message_ids=[m.id for m in new_messages],
        new_conversation_ids=sorted(new_conversation_ids),
        touched_conversation_ids=sorted(touched),
        revised_message_ids=revised_ids,
        skipped=skipped,
    )


def _creates_store(creates: Sequence[_Pending]) -> tuple[list[Message], set[int], set[int]]:
    contacts = _contacts_upsert(creates)
    conversations, new_conversation_ids = _conversations_ensure(creates, contacts)
    new_messages = _messages_insert(creates, contacts, conversations)
    touched = _conversations_refresh(new_messages, conversations, new_conversation_ids)
    return new_messages, new_conversation_ids, touched


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(value):
    """PostgreSQL text and jsonb hold neither NUL characters nor lone surrogates (JSON can
    carry both as escapes): a stray \\x00 goes, a lone surrogate becomes U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean(v) for v in value)
    return value


def _nul_free(item: InboundMessage) -> InboundMessage:
    a = item.author
    return replace(
        item, text=_clean(item.text),
        author=replace(a, handle=_clean(a.handle), name=_clean(a.name), profile=_clean(a.profile)),
        attachments=tuple(replace(x, url=_clean(x.url), name=_clean(x.name)) for x in item.attachments),
    )


def _accounts_for(items: Iterable[InboundMessage]) -> dict[tuple[str, str], ChannelAccount]:
    return _by_key(ChannelAccount, "platform", "external_id", {(i.platform, i.account_external_id) for i in items})


def _by_key(model, group_field: str, key_field: str, keys: Iterable[tuple]) -> dict[tuple, object]:
    """Rows of ``model`` by (group, key): one ``IN`` query per group (usually one)."""
    grouped: dict[object, list[str]] = {}
    for group, key in keys:
        grouped.setdefault(group, []).append(key)
    rows: dict[tuple, object] = {}
    for group, values in grouped.items():
        for row in model.objects.filter(**{group_field: group, f"{key_field}__in": values}):
            rows[(getattr(row, group_field), getattr(row, key_field))] = row
    return rows


def _contacts_upsert(pending: Sequence[_Pending]) -> dict[tuple[str, str], Contact]:
    """Insert new citizens, refresh changed profiles, leave unchanged rows alone.

    Unchanged rows are not written, so they are not locked: two workers ingesting messages
    of the same citizen do not wait for each other's transaction.
    """
    now = timezone.now()
    latest: dict[tuple[str, str], Contact] = {}
    for p in sorted(pending, key=lambda p: p.item.sent_at):
        a = p.item.author
        latest[(p.item.platform, a.external_id)] = Contact(
            platform=p.item.platform, external_id=a.external_id, handle=a.handle[:200],
            name=a.name[:200], profile=a.profile, created_at=now, updated_at=now,
        )
    if not latest:
        return {}
    contacts = _by_key(Contact, "platform", "external_id", latest)
    changed = []
    for key, seen in contacts.items():
        fresh = latest[key]
        if (fresh.handle, fresh.name, fresh.profile) != (seen.handle, seen.name, seen.profile):
            seen.handle, seen.name, seen.profile, seen.updated_at = fresh.handle, fresh.name, fresh.profile, now
            changed.append(seen)
    # Sorted so that concurrent writers lock rows in one order and cannot deadlock.
    update_rows(Contact, sorted(changed, key=lambda c: c.pk), ["handle", "name", "profile", "updated_at"])
    missing = [latest[k] for k in sorted(latest.keys() - contacts.keys())]
    inserted = insert_ignoring_conflicts(Contact, missing, returning=["id", "platform", "external_id"])
    for pk, platform, external_id in inserted:
        contact = latest[(platform, external_id)]
        contact.pk = pk
        contacts[(platform, external_id)] = contact
    if len(inserted) < len(missing):  # another worker created some of them just now
        contacts.update(_by_key(Contact, "platform", "external_id", latest.keys() - contacts.keys()))
    return contacts


def _conversations_ensure(
    pending: Sequence[_Pending], contacts: dict[tuple[str, str], Contact]
) -> tuple[dict[tuple[int, str], Conversation], set[int]]:
    first: dict[tuple[int, str], _Pending] = {}
    for p in sorted(pending, key=lambda p: p.item.sent_at):
        first.setdefault((p.account.id, p.item.thread_key), p)
    if not first:
        return {}, set()
    existing = _by_key(Conversation, "account_id", "thread_key", first)
    now = timezone.now()
    missing = []
    for key in sorted(first.keys() - existing.keys()):
        p = first[key]
        missing.append(
            Conversation(
                account=p.account, thread_key=p.item.thread_key,
                kind=Conversation.Kind.PUBLIC if p.item.visibility == "public" else Conversation.Kind.PRIVATE,
                contact=contacts[(p.item.platform, p.item.author.external_id)],
                subject=_preview(p.item.text)[:200], language=language_detect(p.item.text),
                status=Conversation.Status.NEW, created_at=now, updated_at=now,
            )
        )
    created = insert_ignoring_conflicts(Conversation, missing, returning=["id", "account", "thread_key"])
    by_key = {(c.account_id, c.thread_key): c for c in missing}
    for pk, account_id, thread_key in created:
        conversation = by_key[(account_id, thread_key)]
        conversation.pk = pk
        existing[(account_id, thread_key)] = conversation
    if len(created) < len(missing):
        existing.update(_by_key(Conversation, "account_id", "thread_key", first.keys() - existing.keys()))
    return existing, {row[0] for row in created}


def _messages_insert(
    pending: Sequence[_Pending],
    contacts: dict[tuple[str, str], Contact],
    conversations: dict[tuple[int, str], Conversation],
) -> list[Message]:
    now = timezone.now()
    objs = [
        Message(
            conversation=conversations[(p.account.id, p.item.thread_key)], account=p.account,
            direction=Message.Direction.INBOUND, kind=p.item.kind, visibility=p.item.visibility,
            external_id=p.item.external_id, in_reply_to=p.item.in_reply_to,
            author_contact=contacts[(p.item.platform, p.item.author.external_id)],
            text=p.item.text, attachments=[a.as_dict() for a in p.item.attachments],
            sent_at=p.item.sent_at, received_at=now, raw_event_id=p.raw_event_id,
        )
        for p in pending
    ]
    inserted = {
        (account_id, external_id): pk
        for pk, account_id, external_id in insert_ignoring_conflicts(
            Message, objs, returning=["id", "account", "external_id"]
        )
    }
    rows = []
    for message in objs:
        pk = inserted.get((message.account_id, message.external_id))
        if pk is not None:
            message.pk = pk
            rows.append(message)
    return rows


def _conversations_refresh(
    new_messages: Sequence[Message],
    conversations: dict[tuple[int, str], Conversation],
    new_conversation_ids: set[int],
) -> set[int]:
    by_conversation: dict[int, list[Message]] = {}
    for m in new_messages:
        by_conversation.setdefault(m.conversation_id, []).append(m)
    now = timezone.now()
    # Existing conversations are re-read under a lock (in id order): another worker or an
    # officer may have changed them since they were looked up, and the values below are
    # computed from what is there.
    existing_ids = sorted(set(by_conversation) - new_conversation_ids)
    locked = {
        c.id: c for c in Conversation.objects.select_for_update().filter(id__in=existing_ids).order_by("id")
    }
    changed: list[Conversation] = []
    for conversation in conversations.values():
        messages = by_conversation.get(conversation.id)
        if not messages:
            continue
        conversation = locked.get(conversation.id, conversation)
        newest = max(messages, key=lambda m: m.sent_at)
        oldest = min(messages, key=lambda m: m.sent_at)
        if conversation.first_inbound_at is None or oldest.sent_at < conversation.first_inbound_at:
            conversation.first_inbound_at = oldest.sent_at
            conversation.subject = _preview(oldest.text)[:200]
        if conversation.last_inbound_at is None or newest.sent_at >= conversation.last_inbound_at:
            conversation.last_inbound_at = newest.sent_at
            conversation.last_message_preview = _preview(newest.text)
        if conversation.last_message_at is None or newest.sent_at > conversation.last_message_at:
            conversation.last_message_at = newest.sent_at
        if conversation.status in (Conversation.Status.RESOLVED, Conversation.Status.PENDING, Conversation.Status.SNOOZED):
            # The citizen wrote again: the conversation needs an officer.
            conversation.status = Conversation.Status.OPEN
            conversation.resolved_at = None
        conversation.updated_at = now
        changed.append(conversation)
    update_rows(
        Conversation, sorted(changed, key=lambda c: c.pk),
        ["first_inbound_at", "subject", "last_inbound_at", "last_message_preview", "last_message_at",
         "status", "resolved_at", "updated_at"],
    )
    return {c.id for c in changed}


def _apply_changes(changes: Sequence[_Pending]) -> tuple[list[int], list[_Pending], list[_Pending]]:
    """Edits, deletions and moderation of citizen messages, kept as revisions.

    Returns the revised message ids, the edits of messages never stored (to be kept as new
    messages, so nothing is lost) and the later changes of those messages (to apply once
    they exist). A change of a message that has not arrived is kept as a tombstone and
    applied when it comes. A redelivered change that is already applied is a no-op.
    """
    if not changes:
        return [], [], []
    messages = {
        (m.account_id, m.external_id): m
        for m in Message.objects.select_for_update().filter(
            account_id__in={p.account.id for p in changes},
            external_id__in={p.item.external_id for p in changes},
        ).order_by("id")
    }
    revised: list[int] = []
    recreate: dict[tuple[int, str], _Pending] = {}
    deferred: list[_Pending] = []
    tombstones: list[MessageTombstone] = []
    now = timezone.now()
    for p in sorted(changes, key=lambda p: p.item.sent_at):
        key = (p.account.id, p.item.external_id)
        message = messages.get(key)
        if message is None:
            if key in recreate:
                deferred.append(p)
                continue
            if p.item.action == Action.EDIT:
                # The edited text is what the citizen says now: keep it as the message, and
                # wait for the original to keep its text as a revision.
                recreate[key] = _Pending(_as_create(p.item), p.raw_event_id, p.account)
            tombstones.append(MessageTombstone(
                account=p.account, external_id=p.item.external_id, action=p.item.action,
                occurred_at=p.item.sent_at, text=p.item.text if p.item.action == Action.EDIT else "",
                raw_event_id=p.raw_event_id, created_at=now,
            ))
            continue
        if _revise(message, p.item.action, text=p.item.text, attachments=p.item.attachments,
                   occurred_at=p.item.sent_at, raw_event_id=p.raw_event_id):
            revised.append(message.id)
    insert_ignoring_conflicts(MessageTombstone, tombstones, returning=["id"])
    return revised, list(recreate.values()), deferred


def _revise(message: Message, action: str, *, text: str, attachments=(), occurred_at: datetime,
            raw_event_id: int | None) -> bool:
    """Apply one change to a stored message, keeping what it replaces. False if a no-op."""
    revision = MessageRevision(message=message, previous_text=message.text, occurred_at=occurred_at,
                               raw_event_id=raw_event_id)
    if action == Action.EDIT and text != message.text:
        revision.action = MessageRevision.Action.EDIT
        revision.previous_attachments = message.attachments
        message.text = text
        message.attachments = [a.as_dict() for a in attachments] or message.attachments
        message.edited_at = occurred_at
    elif action == Action.DELETE and message.deleted_at is None:
        revision.action = MessageRevision.Action.DELETE
        revision.previous_attachments = message.attachments
        message.deleted_at = occurred_at
    elif action == Action.HIDE and message.hidden_at is None:
        revision.action = MessageRevision.Action.HIDE
        message.hidden_at = occurred_at
    elif action == Action.UNHIDE and message.hidden_at is not None:
        revision.action = MessageRevision.Action.UNHIDE
        message.hidden_at = None
    else:
        return False
    revision.save()
    message.save(update_fields=["text", "attachments", "edited_at", "deleted_at", "hidden_at"])
    return True


def _tombstones_apply(new_messages: Sequence[Message], duplicates: Sequence[_Pending]) -> list[int]:
    """Changes that arrived before their message: apply the waiting deletions and hides to
    messages just stored, and keep the original text of a message first stored from its
    edit when the original arrives (as a duplicate of it). Returns the revised ids."""
    keys = {(m.account_id, m.external_id) for m in new_messages}
    keys |= {(p.account.id, p.item.external_id) for p in duplicates}
    if not keys:
        return []
    waiting = list(
        MessageTombstone.objects.filter(
            applied_at__isnull=True, account_id__in={k[0] for k in keys}, external_id__in={k[1] for k in keys},
        ).order_by("occurred_at", "id")
    )
    waiting = [t for t in waiting if (t.account_id, t.external_id) in keys]
    if not waiting:
        return []
    originals = {(p.account.id, p.item.external_id): p.item for p in duplicates}
    messages = {
        (m.account_id, m.external_id): m
        for m in Message.objects.select_for_update().filter(
            account_id__in={t.account_id for t in waiting}, external_id__in={t.external_id for t in waiting},
        ).order_by("id")
    }
    revised, applied = [], []
    for tombstone in waiting:
        key = (tombstone.account_id, tombstone.external_id)
        message = messages.get(key)
        if message is None:
            continue
        if tombstone.action == Action.EDIT:
            original = originals.get(key)
            if original is None:
                continue  # the edit itself made the message; its original is still to come
            MessageRevision.objects.create(
                message=message, action=MessageRevision.Action.EDIT, previous_text=original.text,
                previous_attachments=[a.as_dict() for a in original.attachments],
                occurred_at=tombstone.occurred_at, raw_event_id=tombstone.raw_event_id,
            )
            Message.objects.filter(id=message.id).update(edited_at=tombstone.occurred_at)
            revised.append(message.id)
        elif _revise(message, tombstone.action, text=message.text, occurred_at=tombstone.occurred_at,
                     raw_event_id=tombstone.raw_event_id):
            revised.append(message.id)
        applied.append(tombstone.id)
    MessageTombstone.objects.filter(id__in=applied).update(applied_at=timezone.now())
    return revised


def _as_create(item: InboundMessage) -> InboundMessage:
    return InboundMessage(
        platform=item.platform, account_external_id=item.account_external_id,
        external_id=item.external_id, thread_key=item.thread_key, kind=item.kind,
        visibility=item.visibility, author=item.author, text=item.text, sent_at=item.sent_at,
        attachments=item.attachments, in_reply_to=item.in_reply_to, action=Action.CREATE,
    )


# --- Officers' actions -----------------------------------------------------------------------


def message_reply_create(
    *, conversation: Conversation, user, text: str, visibility: str, kind: str, in_reply_to: str = "",
    client_token: str | None = None, audit: dict | None = None,
) -> Message:
    """Queue an answer to the citizen; the send task delivers it through the same channel.

    Raises IntegrityError when a reply with the same ``client_token`` exists (a double submit).
    """
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation, account_id=conversation.account_id,
        direction=Message.Direction.OUTBOUND, kind=kind, visibility=visibility,
        in_reply_to=in_reply_to, author_user=user, text=text, sent_at=now,
        delivery_status=Message.Delivery.QUEUED, next_attempt_at=now, client_token=client_token or None,
    )
    updates = {"last_message_at": now, "last_message_preview": _preview(text), "updated_at": now}
    if conversation.status == Conversation.Status.NEW:
        updates["status"] = Conversation.Status.OPEN
    if conversation.assignee_id is None:
        updates["assignee"] = user
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    for field, value in updates.items():
        setattr(conversation, field, value)
    audit_record(user, "message.reply", conversation, message_id=message.id, visibility=visibility, **(audit or {}))
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
        .only("status", "assignee_id", "resolved_at", "first_response_at", "updated_at")
        .get(pk=conversation.pk)
    )
    for field in ("status", "assignee_id", "resolved_at", "first_response_at", "updated_at"):
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


def conversation_note_add(*, conversation: Conversation, user, text: str) -> Message:
    _require_team_perm(user, conversation.team, REPLY, "You cannot work on this team's conversations.")
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation, account_id=conversation.account_id,
            direction=Message.Direction.NOTE, kind=Message.Kind.NOTE,
            visibility=Message.Visibility.INTERNAL, author_user=user, text=text, sent_at=timezone.now(),
        )
        audit_record(user, "conversation.note", conversation, message_id=message.id)
        _publish_on_commit(conversation)
    return message


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
    with transaction.atomic():
        conversation.save(update_fields=["status", "resolved_at", "updated_at"])
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
    if assignee is not None and (target is None or assignee.id not in {u.id for u in team_officers(target)}):
        raise AssignmentRefused(f"{assignee.get_username()} is not an officer of {target or 'any team yet'}.")
    previous = (conversation.team_id, conversation.assignee_id)
    conversation.team = target
    conversation.assignee = assignee
    conversation.updated_at = timezone.now()
    with transaction.atomic():
        conversation.save(update_fields=["team", "assignee", "updated_at"])
        audit_record(
            user, "conversation.assign", conversation,
            previous_team=previous[0], previous_assignee=previous[1],
            team=conversation.team_id, assignee=getattr(assignee, "pk", None),
        )
        _publish_on_commit(conversation)
    return conversation


# --- Outbound delivery -----------------------------------------------------------------------


def message_claim_for_send(message_id: int) -> tuple[Message, DeliveryAttempt] | None:
    """Atomically move a queued reply to "sending" and open its attempt record.

    None if another worker has it, it is not due, or it is done. The claim and the attempt
    commit together, so a reply in "sending" always has an open attempt for the sweep to find.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = Message.objects.filter(
            id=message_id, direction=Message.Direction.OUTBOUND,
            delivery_status=Message.Delivery.QUEUED,
        ).filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)).update(
            delivery_status=Message.Delivery.SENDING, attempts=F("attempts") + 1, next_attempt_at=None
        )
        if claimed != 1:
            return None
        message = Message.objects.select_related("conversation__account", "conversation__contact").get(id=message_id)
        return message, DeliveryAttempt.objects.create(message=message, started_at=now)


def message_mark_sent(message: Message, attempt: DeliveryAttempt, *, external_id: str, sent_at: datetime | None = None) -> None:
    now = timezone.now()
    with transaction.atomic():
        # Only from "sending": a slow worker and the sweep cannot both settle one attempt.
        settled = Message.objects.filter(id=message.id, delivery_status=Message.Delivery.SENDING).update(
            delivery_status=Message.Delivery.SENT, external_id=external_id or None,
            delivered_at=sent_at or now, delivery_error="",
        )
        if not settled:
            return
        DeliveryAttempt.objects.filter(id=attempt.id).update(finished_at=now, outcome=DeliveryAttempt.Outcome.SENT)
        # The first-response clock stops at the first answer the citizen can see.
        Conversation.objects.filter(id=message.conversation_id, first_response_at__isnull=True).update(
            first_response_at=sent_at or now
        )


def message_mark_retry(message: Message, attempt: DeliveryAttempt, *, error: str, retry_at: datetime, code: str = "") -> None:
    now = timezone.now()
    error = redact_secrets(error)
    with transaction.atomic():
        settled = Message.objects.filter(id=message.id, delivery_status=Message.Delivery.SENDING).update(
            delivery_status=Message.Delivery.QUEUED, delivery_error=error[:2000], next_attempt_at=retry_at
        )
        if not settled:
            return
        DeliveryAttempt.objects.filter(id=attempt.id).update(
            finished_at=now, outcome=DeliveryAttempt.Outcome.RETRY, error=error[:2000], platform_code=code[:50]
        )


def message_mark_failed(
    message: Message, attempt: DeliveryAttempt | None, *, error: str, code: str = "", uncertain: bool = False
) -> None:
    now = timezone.now()
    error = redact_secrets(error)
    with transaction.atomic():
        settled = Message.objects.filter(id=message.id, delivery_status=Message.Delivery.SENDING).update(
            delivery_status=Message.Delivery.FAILED, delivery_error=error[:2000], next_attempt_at=None
        )
        if not settled:
            return
        if attempt is not None:
            DeliveryAttempt.objects.filter(id=attempt.id).update(
                finished_at=now, error=error[:2000], platform_code=code[:50],
                outcome=DeliveryAttempt.Outcome.UNCERTAIN if uncertain else DeliveryAttempt.Outcome.FAILED,
            )


def account_mark_error(account: ChannelAccount, error: str, *, needs_reconnect: bool = False) -> None:
    updates = {"last_error": redact_secrets(error)[:2000], "last_error_at": timezone.now()}
    if needs_reconnect:
        updates["status"] = ChannelAccount.Status.NEEDS_RECONNECT
    ChannelAccount.objects.filter(id=account.id).update(**updates)
    for field, value in updates.items():
        setattr(account, field, value)


def accounts_mark_revoked(platforms: Iterable[str], external_ids: Sequence[str]) -> None:
    """The platform says these accounts withdrew the app's access: they need reconnecting."""
    for account in ChannelAccount.objects.filter(platform__in=list(platforms), external_id__in=list(external_ids)):
        account_mark_error(account, "The account withdrew this app's access.", needs_reconnect=True)


def account_cursor_set(account: ChannelAccount, name: str, value: dict) -> None:
    """Merge one endpoint's poll cursor; a cursor only moves once its page is stored."""
    cursors = dict(account.cursors or {})
    cursors[name] = value
    ChannelAccount.objects.filter(id=account.id).update(cursors=cursors)
    account.cursors = cursors


def channel_account_create(
    *, platform: str, external_id: str, name: str, handle: str = "", credentials: dict | None = None,
    default_team: Team | None = None, actor=None,
) -> ChannelAccount:
    """Connect an account; raises IntegrityError if (platform, external_id) already exists.

    The audit record names the account, never its credentials.
    """
    with transaction.atomic():
        account = ChannelAccount.objects.create(
            platform=platform, external_id=external_id, name=name, handle=handle,
            credentials=credentials or {}, default_team=default_team,
        )
        audit_record(
            actor, "channel_account.create", account, platform=platform, external_id=external_id,
            name=name, default_team=getattr(default_team, "pk", None),
            credentials_set=bool(credentials),
        )
    return account
