"""Outbound delivery: claim a queued reply once, record every attempt, settle it once."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from inbox.models import Conversation, DeliveryAttempt, Message
from inbox.redaction import redact_secrets
from inbox.services.library import saved_reply_used


def message_claim_for_send(message_id: int) -> tuple[Message, DeliveryAttempt] | None:
    """Atomically move a queued reply to "sending" and open its attempt record.

    None if another worker has it, it is not due, or it is done. The claim and the attempt
    commit together, so a reply in "sending" always has an open attempt for the sweep to find.
    """
    now = timezone.now()
    with transaction.atomic():
        automatic_reply_cancel_if_superseded(message_id)
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
        # Counted here, once: only this conditional update settles the reply as sent.
        saved_reply_used(message.saved_reply_id, at=now)
        # The first-response clock stops at the first answer the citizen can see from a
        # person: an automatic reply never counts (docs/sla.md).
        if not message.automatic:
            Conversation.objects.filter(id=message.conversation_id, first_response_at__isnull=True).update(
                first_response_at=sent_at or now
            )


def automatic_reply_cancel_if_superseded(message_id: int) -> bool:
    """Cancel a queued automatic reply that is no longer wanted: a person answered after it
    was queued, or the conversation was resolved or marked spam. A conditional UPDATE, so
    it cannot cancel a reply another worker is already sending."""
    answered = Message.objects.filter(
        conversation_id=OuterRef("conversation_id"), direction=Message.Direction.OUTBOUND,
        author_user__isnull=False, id__gt=OuterRef("id"),
    ).exclude(delivery_status__in=[Message.Delivery.FAILED, Message.Delivery.CANCELLED])
    closed = Q(conversation__status__in=[Conversation.Status.RESOLVED, Conversation.Status.SPAM])
    return bool(
        Message.objects.filter(id=message_id, delivery_status=Message.Delivery.QUEUED)
        .exclude(automatic="").filter(Exists(answered) | closed)
        .update(delivery_status=Message.Delivery.CANCELLED, next_attempt_at=None,
                delivery_error="Cancelled: a person answered first, or the conversation was closed.")
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


def delivery_attempt_note(attempt: DeliveryAttempt, *, error: str, code: str = "") -> None:
    """Say on an attempt still open why it is in doubt (the sweep settles it later)."""
    DeliveryAttempt.objects.filter(id=attempt.id, finished_at__isnull=True).update(
        error=redact_secrets(error)[:2000], platform_code=code[:50]
    )
