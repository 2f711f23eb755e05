"""Receipt and ingest: raw deliveries kept as they came, then their items stored exactly once.

The ingest path is set-based: one batch of ``InboundMessage`` becomes a handful of
statements whatever its size, and uniqueness constraints make every step safe to repeat.
What could not be read is quarantined next to what could, and replayed after a fix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inbox.audit import audit_record_many
from inbox.db import insert_ignoring_conflicts, update_rows
from inbox.inbound import Action, InboundMessage, IngestResult
from inbox.language import language_detect
from inbox.models import (
    ChannelAccount,
    Contact,
    Conversation,
    Message,
    MessageRevision,
    MessageTombstone,
    QuarantinedItem,
    RawEvent,
)
from inbox.redaction import redact_secrets
from inbox.services.text import preview as _preview

logger = logging.getLogger(__name__)


# --- Receipt ---------------------------------------------------------------------------------


def raw_event_record(
    *, platform: str, body: bytes, headers: dict, source: str, account: ChannelAccount | None = None
) -> RawEvent:
    return RawEvent.objects.create(
        platform=platform, account=account, source=source, body=body, headers=headers
    )


def raw_events_store(events: Sequence[RawEvent]) -> None:
    """Save events built in memory (a poll's pages), inside the transaction that stores their items."""
    for event in events:
        event.save()


def raw_events_give_up(*, before, max_attempts: int) -> int:
    """Settle events that failed ``max_attempts`` times: kept, with their error, for an admin."""
    return RawEvent.objects.filter(
        processed_at__isnull=True, received_at__lt=before, attempts__gte=max_attempts
    ).update(processed_at=timezone.now())


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
        # A platform that sends only ids (Messenger, Instagram) does not unname a citizen whose
        # name was asked for (channels_adapters/profiles.py).
        fresh.name, fresh.handle = fresh.name or seen.name, fresh.handle or seen.handle
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
    return replace(item, action=Action.CREATE)
