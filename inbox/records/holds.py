"""Legal holds: set and released by admins with a reason, audited. While a hold is active,
its conversation (or every conversation of its Person) is never pseudonymised or erased."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.audit import audit_record
from inbox.models import Conversation, LegalHold, Person


class HoldRefused(Exception):
    """The action would touch held records (or the hold is already there / gone)."""


def active_holds() -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(released_at__isnull=True)


def conversations_held() -> Q:
    """A filter on Conversation: held on the conversation or on its contact's Person."""
    holds = active_holds()
    return Q(Exists(holds.filter(conversation_id=OuterRef("pk")))) | Q(
        contact__person__isnull=False,
        contact__person__in=holds.filter(person__isnull=False).values("person_id"),
    )


def conversation_hold(conversation: Conversation) -> LegalHold | None:
    """The active hold that covers the conversation (its own first, then its Person's): one query."""
    person_id = conversation.contact.person_id if conversation.contact_id else None
    who = Q(conversation_id=conversation.pk)
    if person_id:
        who |= Q(person_id=person_id)
    return active_holds().filter(who).select_related("set_by").order_by("person_id").first()


def person_is_held(person: Person) -> bool:
    """The Person, or one of their conversations, is held."""
    return active_holds().filter(
        Q(person=person) | Q(conversation__contact__person=person)
    ).exists()


def legal_hold_set(*, actor, reason: str, conversation: Conversation | None = None,
                   person: Person | None = None) -> LegalHold:
    if (conversation is None) == (person is None):
        raise ValueError("a hold is on a conversation or on a Person")
    reason = reason.strip()
    if not reason:
        raise HoldRefused(_("Give the reason for the hold."))
    try:
        with transaction.atomic():
            hold = LegalHold.objects.create(conversation=conversation, person=person, reason=reason, set_by=actor)
            audit_record(actor, "legal_hold.set", conversation or person, hold=hold.pk, reason=reason)
    except IntegrityError:
        raise HoldRefused(_("It is already on legal hold.")) from None
    return hold


def legal_hold_release(*, actor, hold: LegalHold, reason: str) -> None:
    reason = reason.strip()
    if not reason:
        raise HoldRefused(_("Give the reason for releasing the hold."))
    with transaction.atomic():
        released = LegalHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
            released_at=timezone.now(), released_by=actor, release_reason=reason
        )
        if not released:
            raise HoldRefused(_("That hold was already released."))
        target = hold.conversation if hold.conversation_id else hold.person
        audit_record(actor, "legal_hold.release", target, hold=hold.pk, reason=reason)
