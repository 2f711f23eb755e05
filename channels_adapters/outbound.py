"""Outbound: an officer's answer leaves through the channel the citizen used, once.

``reply_submit`` is what the UI and the API call; ``message_deliver`` is what the send task
runs. A reply is claimed with a conditional UPDATE before the platform call, so a
redelivered task or a second worker can never post it twice; after an uncertain failure
the adapter is asked whether it went out before anything is resent.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_adapters.base import AdapterError, ReplyOption, ReplyRefused
from channels_adapters.registry import get_adapter
from inbox import realtime
from inbox.models import Conversation, Message
from inbox.permissions import REPLY, user_has_team_perm
from inbox.personal_data import Finding, personal_data_find
from inbox.queue import enqueue_on_commit
from inbox.services import (
    account_mark_error,
    message_claim_for_send,
    message_mark_failed,
    message_mark_retry,
    message_mark_sent,
    message_reply_create,
)

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8
STUCK_AFTER = timedelta(minutes=5)


def delivery_adapter(account):
    """Who carries a reply: the platform's adapter, or the simulated network for simulated
    accounts (the composer still applies the real platform's rules to them)."""
    return get_adapter("simulator" if account.simulated else account.platform)


def reply_options(conversation: Conversation) -> list[ReplyOption]:
    return get_adapter(conversation.account.platform).reply_options(conversation, now=timezone.now())


class PersonalDataInPublicReply(ReplyRefused):
    """A public reply that seems to hold personal data: it belongs in a private message."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        listed = "; ".join(f"{f.kind} ({f.text})" for f in findings[:3])
        example = {
            "phone number": "such as an office's phone number",
            "e-mail address": "such as a service's address",
        }.get(findings[0].kind, "")
        super().__init__(
            f"This public reply seems to contain personal data: {listed}. Send it as a private "
            f"message, or confirm that it is public information{f' ({example})' if example else ''}."
        )


def reply_submit(
    *, conversation: Conversation, user, text: str, option_key: str,
    client_token: str = "", confirm_public: bool = False,
) -> Message:
    """Check the reply against the platform's rules, store it as queued, send after commit.

    ``client_token`` (from the composer, or an API client's idempotency key) makes a double
    submit return the reply already queued instead of sending the citizen the answer twice.
    A public reply with personal data is refused unless the officer ``confirm_public``.
    """
    if not user_has_team_perm(user, conversation.team, REPLY):
        raise PermissionDenied("You cannot answer this team's conversations.")
    if client_token:
        earlier = conversation.messages.filter(client_token=client_token).first()
        if earlier is not None:
            return earlier
    if conversation.account.status != conversation.account.Status.ACTIVE:
        raise ReplyRefused(
            f"The {conversation.account} account is {conversation.account.get_status_display().lower()}; "
            "an admin must reconnect it before replies can be sent."
        )
    adapter = get_adapter(conversation.account.platform)
    options = {o.key: o for o in adapter.reply_options(conversation, now=timezone.now())}
    option = options.get(option_key)
    if option is None:
        raise ReplyRefused(f"This channel has no {option_key!r} reply.")
    if not option.available:
        raise ReplyRefused(option.reason)
    text = text.strip()
    adapter.validate_reply(conversation, option, text)
    audit = {}
    if option.visibility == Message.Visibility.PUBLIC:
        findings = personal_data_find(
            text, region=settings.PHONE_REGION, public_email_domains=settings.PUBLIC_EMAIL_DOMAINS
        )
        if findings and not confirm_public:
            raise PersonalDataInPublicReply(findings)
        if findings:
            audit["personal_data_confirmed_public"] = [f.kind for f in findings]
    from channels_adapters.tasks import message_send

    last_inbound = (
        conversation.messages.filter(direction=Message.Direction.INBOUND, deleted_at__isnull=True)
        .order_by("-sent_at", "-id").values_list("external_id", flat=True).first()
    )
    try:
        with transaction.atomic():
            message = message_reply_create(
                conversation=conversation, user=user, text=text, visibility=option.visibility,
                kind=option.kind, in_reply_to=last_inbound or "", client_token=client_token or None,
                audit=audit,
            )
            enqueue_on_commit(message_send, message.id)
            transaction.on_commit(lambda: realtime.conversations_changed([conversation.id]))
    except IntegrityError:
        if not client_token:
            raise
        return conversation.messages.get(client_token=client_token)  # the same submit, twice at once
    return message


def _backoff(attempts: int) -> timedelta:
    base = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=base + random.uniform(0, base / 4))  # noqa: S311 - jitter, not crypto


def message_deliver(message_id: int) -> str:
    """Try to send one queued reply. Returns the outcome, for logs and tests."""
    claim = message_claim_for_send(message_id)
    if claim is None:
        return "not-claimed"
    message, attempt = claim
    conversation = message.conversation
    account = conversation.account
    adapter = delivery_adapter(account)
    try:
        result = adapter.send(account, conversation, message)
    except AdapterError as exc:
        outcome = _delivery_failed(adapter, message, attempt, exc)
    except Exception as exc:
        # Unknown failure mid-call: the platform may have the reply. Never guess.
        logger.exception("send: unexpected failure for message %s", message.id)
        outcome = _delivery_failed(adapter, message, attempt, AdapterError(str(exc), uncertain=True))
    else:
        message_mark_sent(message, attempt, external_id=result.external_id, sent_at=result.sent_at)
        outcome = "sent"
    realtime.conversations_changed([conversation.id])
    return outcome


def _delivery_failed(adapter, message: Message, attempt, exc: AdapterError) -> str:
    account = message.conversation.account
    if exc.needs_reconnect:
        account_mark_error(account, str(exc), needs_reconnect=True)
    if exc.uncertain:
        found = None
        try:
            found = adapter.confirm_delivery(account, message.conversation, message)
        except AdapterError:
            logger.warning("send: could not confirm delivery of message %s", message.id)
        if found is not None:
            message_mark_sent(message, attempt, external_id=found.external_id, sent_at=found.sent_at)
            return "sent"
        message_mark_failed(
            message, attempt, code=exc.code, uncertain=True,
            error=f"It is not known whether the platform received this reply ({exc}). "
            "Check the conversation on the platform before sending it again.",
        )
        return "uncertain"
    if exc.permanent or message.attempts >= MAX_SEND_ATTEMPTS:
        message_mark_failed(message, attempt, error=str(exc), code=exc.code)
        return "failed"
    retry_at = exc.retry_at or timezone.now() + _backoff(message.attempts)
    message_mark_retry(message, attempt, error=str(exc), retry_at=retry_at, code=exc.code)
    from channels_adapters.tasks import message_send

    message_send.apply_async((message.id,), eta=retry_at)
    return "retry"


def outbound_sweep() -> dict[str, int]:
    """Requeue replies whose retry time passed; settle replies stuck in "sending" by a crash."""
    from channels_adapters.tasks import message_send

    now = timezone.now()
    due = list(
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND, delivery_status=Message.Delivery.QUEUED,
            next_attempt_at__lte=now - timedelta(seconds=30),
        ).values_list("id", flat=True)[:500]
    )
    for message_id in due:
        message_send.delay(message_id)
    stuck = list(
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND, delivery_status=Message.Delivery.SENDING,
            delivery_attempts__finished_at__isnull=True,
            delivery_attempts__started_at__lt=now - STUCK_AFTER,
        ).select_related("conversation__account").distinct()[:100]
    )
    for message in stuck:
        attempt = message.delivery_attempts.filter(finished_at__isnull=True).last()
        _delivery_failed(
            delivery_adapter(message.conversation.account), message, attempt,
            AdapterError("the worker stopped while sending", uncertain=True),
        )
    return {"requeued": len(due), "settled": len(stuck)}
