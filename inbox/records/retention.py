"""Retention and the rights of data subjects: pseudonymise what is past its account's
retention period (nightly, resumable), and pseudonymise or erase one Person on request.

What changes: message texts and attachments, their revisions, waiting tombstones, the raw
payloads they came in (and quarantined fragments of those), the conversation's subject and
preview; once all of a contact's conversations are done, the contact (name, handle, platform
id, profile texts) and then its Person. What stays: every row, every time, count and number
(the figures), the message kinds and directions, the text around the replaced values (its
shape), the audit trail (which holds ids, not texts).

Resumable: conversations are done in batches, one transaction each, and a done conversation
has a ``ConversationPseudonymisation`` row; a run that crashed leaves whole batches done or
untouched, and the next run takes the rest. Each batch is audited with its counts in the
same transaction.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inbox.audit import audit_record
from inbox.models import (
    ChannelAccount,
    Contact,
    Conversation,
    ConversationPseudonymisation,
    Message,
    MessageRevision,
    MessageTombstone,
    Person,
    QuarantinedItem,
    RawEvent,
    RetentionPolicy,
    RetentionRun,
)
from inbox.records.holds import HoldRefused, conversations_held, person_is_held
from inbox.records.scrub import ERASED, Scrubber, value_token

Reason = ConversationPseudonymisation.Reason


# --- Policies ---------------------------------------------------------------------------------


def retention_policy_set(*, account: ChannelAccount, keep_months: int | None, actor) -> RetentionPolicy:
    with transaction.atomic():
        policy, _created = RetentionPolicy.objects.select_for_update().get_or_create(account=account)
        previous = policy.keep_months
        policy.keep_months, policy.updated_by, policy.updated_at = keep_months, actor, timezone.now()
        policy.save()
        audit_record(actor, "retention_policy.change", account, previous=previous, keep_months=keep_months)
    return policy


def retention_due(now: datetime | None = None) -> QuerySet[Conversation]:
    """Conversations quiet for longer than their account keeps them, not yet pseudonymised
    (held ones included: callers exclude ``conversations_held()``)."""
    now = now or timezone.now()
    past = Q(pk__in=[])
    for account_id, months in RetentionPolicy.objects.filter(keep_months__isnull=False).values_list(
        "account_id", "keep_months"
    ):
        cutoff = now - relativedelta(months=months)
        past |= Q(account_id=account_id) & (
            Q(last_message_at__lt=cutoff) | Q(last_message_at__isnull=True, created_at__lt=cutoff)
        )
    return Conversation.objects.filter(past, pseudonymisation__isnull=True)


# --- One conversation -------------------------------------------------------------------------


def _known_values(contacts: list[Contact]) -> list[tuple[str, str]]:
    known: list[tuple[str, str]] = []
    for contact in contacts:
        known += [("name", contact.name), ("handle", contact.handle), ("uid", contact.external_id)]
        if contact.person_id and contact.person.display_name:
            known.append(("name", contact.person.display_name))
    return known


def conversation_scrub(conversation: Conversation, scrubber: Scrubber, *, erase_inbound: bool = False,
                       only_authors: set[int] | None = None, defer_raw: set[int] | None = None) -> Counter:
    """Scrub the conversation's texts and payloads in place; returns counts. With
    ``erase_inbound`` the citizens' own texts are replaced whole; with ``only_authors`` only
    messages of those contacts are touched (a Person's messages in someone else's thread).
    With ``defer_raw`` the raw payloads' ids are added to it for the caller to scrub once
    (a webhook batch carries many conversations: once per batch, not once per conversation)."""
    counts: Counter = Counter()
    messages = list(conversation.messages.all())
    if only_authors is not None:
        messages = [m for m in messages if m.author_contact_id in only_authors]
    by_id = {m.id: m for m in messages}
    for message in messages:
        erase = erase_inbound and message.direction == Message.Direction.INBOUND
        message.text = ERASED if erase and message.text else scrubber.text(message.text)
        message.attachments = [] if erase else scrubber.data(message.attachments)
    Message.objects.bulk_update(messages, ["text", "attachments"])
    counts["messages"] += len(messages)
    revisions = list(MessageRevision.objects.filter(message_id__in=by_id))
    for revision in revisions:
        erase = erase_inbound and by_id[revision.message_id].direction == Message.Direction.INBOUND
        revision.previous_text = ERASED if erase and revision.previous_text else scrubber.text(revision.previous_text)
        revision.previous_attachments = [] if erase else scrubber.data(revision.previous_attachments)
    MessageRevision.objects.bulk_update(revisions, ["previous_text", "previous_attachments"])
    counts["revisions"] += len(revisions)
    external_ids = [m.external_id for m in messages if m.external_id]
    tombstones = list(MessageTombstone.objects.filter(account_id=conversation.account_id, external_id__in=external_ids))
    for tombstone in tombstones:
        tombstone.text = ERASED if erase_inbound and tombstone.text else scrubber.text(tombstone.text)
    MessageTombstone.objects.bulk_update(tombstones, ["text"])
    raw_ids = {m.raw_event_id for m in messages} | {r.raw_event_id for r in revisions} | {
        t.raw_event_id for t in tombstones
    }
    raw_ids.discard(None)
    if defer_raw is not None:
        defer_raw.update(raw_ids)
    else:
        counts.update(_raw_events_scrub(raw_ids, scrubber))
    if only_authors is None:
        conversation.subject = scrubber.text(conversation.subject)[:200]
        conversation.last_message_preview = scrubber.text(conversation.last_message_preview)[:200]
        Conversation.objects.filter(pk=conversation.pk).update(
            subject=conversation.subject, last_message_preview=conversation.last_message_preview
        )
    return counts


def _raw_events_scrub(raw_ids: set[int], scrubber: Scrubber) -> Counter:
    """A delivery may also carry messages of held conversations: it is then left whole."""
    counts: Counter = Counter()
    if not raw_ids:
        return counts
    held_raw = set(
        Message.objects.filter(raw_event_id__in=raw_ids)
        .filter(conversation__in=Conversation.objects.filter(conversations_held()))
        .values_list("raw_event_id", flat=True)
    )
    for raw in RawEvent.objects.filter(id__in=raw_ids - held_raw).order_by("id"):
        raw.body = scrubber.payload(bytes(raw.body))
        RawEvent.objects.filter(pk=raw.pk).update(body=raw.body)
        counts["raw_payloads"] += 1
    for item in QuarantinedItem.objects.filter(raw_event_id__in=raw_ids - held_raw, fragment__isnull=False):
        QuarantinedItem.objects.filter(pk=item.pk).update(fragment=scrubber.data(item.fragment))
    counts["raw_payloads_held"] += len(held_raw)
    return counts


def contact_scrub(contact: Contact, *, erase: bool = False) -> None:
    """The contact's identity: tokens (or nothing left, for erasure); numbers in its profile
    (followers, verified) stay as figures."""
    def token(kind: str, value: str) -> str:
        return (ERASED if erase else value_token(kind, value)) if value else value

    profile = {
        key: token(str(key), value) if isinstance(value, str) else value
        for key, value in (contact.profile or {}).items()
    }
    external_id = f"erased-{uuid.uuid4().hex}" if erase else value_token("uid", contact.external_id)
    Contact.objects.filter(pk=contact.pk).update(
        name=token("name", contact.name)[:200], handle=token("handle", contact.handle)[:200],
        external_id=external_id[:100], profile=profile, updated_at=timezone.now(),
    )


def person_scrub(person: Person, *, erase: bool = False) -> None:
    name = person.display_name
    Person.objects.filter(pk=person.pk).update(
        display_name=(ERASED if erase else value_token("name", name)) if name else "",
        notes=ERASED if person.notes else "",
    )


def _contacts_finish(contact_ids: set[int]) -> int:
    """Contacts (and then Persons) none of whose conversations keep personal data any more."""
    done = 0
    for contact in Contact.objects.filter(id__in=contact_ids).select_related("person"):
        pending = Conversation.objects.filter(
            Q(contact=contact) | Q(messages__author_contact=contact), pseudonymisation__isnull=True
        ).exists()
        if pending or contact.external_id.startswith("[uid:"):
            continue
        contact_scrub(contact)
        done += 1
        person = contact.person
        if person and not Contact.objects.filter(person=person).exclude(
            external_id__startswith="[uid:").exclude(pk=contact.pk).exists():
            person_scrub(person)
    return done


# --- The nightly run --------------------------------------------------------------------------


@dataclass
class RetentionReport:
    due: int = 0
    held: int = 0
    counts: Counter = field(default_factory=Counter)
    by_account: dict[str, int] = field(default_factory=dict)
    run_id: int | None = None


def retention_run(*, now: datetime | None = None, batch: int | None = None, dry_run: bool = False,
                  actor=None) -> RetentionReport:
    now = now or timezone.now()
    batch = batch or settings.RETENTION_BATCH_SIZE
    due = retention_due(now)
    report = RetentionReport(due=due.exclude(conversations_held()).count(), held=due.filter(conversations_held()).count())
    names = dict(ChannelAccount.objects.values_list("id", "name"))
    for account_id, n in Counter(due.exclude(conversations_held()).values_list("account_id", flat=True)).items():
        report.by_account[names.get(account_id, str(account_id))] = n
    if dry_run:
        return report
    run = RetentionRun.objects.create(started_at=now)
    report.run_id = run.pk
    while True:
        with transaction.atomic():
            ids = list(
                retention_due(now).exclude(conversations_held()).select_for_update(skip_locked=True, of=("self",))
                .order_by("id").values_list("id", flat=True)[:batch]
            )
            if not ids:
                break
            batch_counts: Counter = Counter()
            contacts: set[int] = set()
            raw_ids: set[int] = set()
            batch_scrubber = Scrubber()
            for conversation in Conversation.objects.filter(id__in=ids).select_related("contact__person").order_by("id"):
                authors = list(Contact.objects.filter(
                    Q(pk=conversation.contact_id) | Q(messages__conversation=conversation)
                ).select_related("person").distinct())
                scrubber = Scrubber(_known_values(authors))
                counts = conversation_scrub(conversation, scrubber, defer_raw=raw_ids)
                counts["replacements"] += scrubber.replaced
                ConversationPseudonymisation.objects.create(
                    conversation=conversation, reason=Reason.RETENTION, run=run, counts=dict(counts)
                )
                batch_counts.update(counts)
                contacts.update(c.pk for c in authors)
                batch_scrubber.add_known(_known_values(authors))
            batch_counts.update(_raw_events_scrub(raw_ids, batch_scrubber))
            batch_counts["replacements"] += batch_scrubber.replaced
            batch_counts["conversations"] += len(ids)
            batch_counts["contacts"] += _contacts_finish(contacts)
            audit_record(actor, "retention.batch", run, conversation_ids=ids, **batch_counts)
            report.counts.update(batch_counts)
            RetentionRun.objects.filter(pk=run.pk).update(counts=dict(report.counts))
    RetentionRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), counts=dict(report.counts))
    audit_record(actor, "retention.run", run, held=report.held, **report.counts)
    return report


# --- One Person, on request -------------------------------------------------------------------


LEGAL_BASES = {
    # GDPR art. 17(1) grounds an admin may record for erasure, and 21 / 89 for pseudonymisation.
    "consent_withdrawn": gettext_lazy("Consent withdrawn (art. 17(1)(b))"),
    "no_longer_necessary": gettext_lazy("No longer necessary for the purpose (art. 17(1)(a))"),
    "objection": gettext_lazy("Objection upheld (art. 21)"),
    "unlawful": gettext_lazy("Unlawfully processed (art. 17(1)(d))"),
    "legal_obligation": gettext_lazy("Erasure required by law (art. 17(1)(e))"),
    "archiving": gettext_lazy("Archiving in the public interest: pseudonymised, not erased (art. 89)"),
    "other": gettext_lazy("Other (explained below)"),
}


def person_data_remove(*, person: Person, actor, basis: str, explanation: str = "", erase: bool = False) -> Counter:
    """Pseudonymise (stable tokens) or erase (texts replaced whole, no tokens) everything held
    about a Person; refused while the Person or one of their conversations is on legal hold."""
    if basis not in LEGAL_BASES:
        raise ValueError(f"unknown legal basis {basis!r}")
    counts: Counter = Counter()
    with transaction.atomic():
        Person.objects.select_for_update().get(pk=person.pk)
        if person_is_held(person):
            raise HoldRefused(_("This person, or one of their conversations, is on legal hold."))
        contacts = list(Contact.objects.filter(person=person).select_related("person"))
        contact_ids = {c.pk for c in contacts}
        known = _known_values(contacts)
        if erase:
            texts = Message.objects.filter(author_contact_id__in=contact_ids).values_list("text", flat=True)
            known += [("text", t) for t in texts if t]
        scrubber = Scrubber(known, erase=erase)
        reason = Reason.ERASE if erase else Reason.PSEUDONYMISE
        own = Conversation.objects.filter(contact_id__in=contact_ids).order_by("id")
        for conversation in own.select_for_update(of=("self",)):
            conversation_counts = conversation_scrub(conversation, scrubber, erase_inbound=erase)
            ConversationPseudonymisation.objects.update_or_create(
                conversation=conversation, defaults={"reason": reason, "counts": dict(conversation_counts),
                                                     "done_at": timezone.now()},
            )
            counts.update(conversation_counts)
            counts["conversations"] += 1
        elsewhere = Conversation.objects.filter(messages__author_contact_id__in=contact_ids).exclude(
            contact_id__in=contact_ids).exclude(conversations_held()).distinct()
        for conversation in elsewhere:
            counts.update(conversation_scrub(conversation, scrubber, erase_inbound=erase, only_authors=contact_ids))
            counts["threads_of_others"] += 1
        for contact in contacts:
            contact_scrub(contact, erase=erase)
        person_scrub(person, erase=erase)
        counts["contacts"] = len(contacts)
        counts["replacements"] = scrubber.replaced
        audit_record(actor, "person.erase" if erase else "person.pseudonymise", person,
                     basis=basis, explanation=explanation, **counts)
    return counts
