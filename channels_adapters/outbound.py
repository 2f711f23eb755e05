"""Outbound: an officer's answer leaves through the channel the citizen used, once.

``reply_submit`` is what the UI and the API call; ``message_deliver`` is what the send task
runs. A reply is claimed with a conditional UPDATE before the platform call, so a
redelivered task or a second worker can never post it twice.

After an uncertain failure (a timeout after the request left, a worker killed mid-call)
the platform is searched for the reply over the attempts' time window
(``Adapter.confirm_delivery``, see ``channels_adapters.confirmation``):

- found: the reply is sent, with the platform's id;
- not found, though the search read the whole window, at least ``STUCK_AFTER`` after the
  attempt began: the reply never reached the platform, and it is queued again;
- the search could not complete (a platform error, too many posts to read, something that
  may be the reply with other words): the reply is failed as *uncertain* and an officer
  checks the platform by hand. It is never resent.

Right after the failure the worker looks once: a reply that went out is usually visible
at once. If it is not, the reply stays in "sending" with its attempt open, and the outbound
sweep settles it once the attempt is ``STUCK_AFTER`` old — late enough for X and Meta to
show a post that was made (they index within seconds, but not always at once), so that
"not found" can be believed.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_adapters.base import AdapterError, ReplyOption, ReplyRefused
from channels_adapters.confirmation import CLOCK_SKEW, Confirmation, DeliveryWindow
from channels_adapters.registry import get_adapter
from inbox import realtime
from inbox.models import Conversation, DeliveryAttempt, Message, ReplyDraft, SavedReply
from inbox.permissions import REPLY, user_has_team_perm
from inbox.personal_data import Finding, personal_data_find
from inbox.queue import enqueue_on_commit, task_named
from inbox.services import (
    account_mark_error,
    conversation_reachability_set,
    delivery_attempt_note,
    message_claim_for_send,
    message_mark_failed,
    message_mark_retry,
    message_mark_sent,
    message_reply_collisions_check,
    message_reply_create,
)
from inbox.services.approvals import reply_approval_reasons, reply_draft_hold
from routing import sla

logger = logging.getLogger(__name__)
SEND_TASK = "channels_adapters.message_send"  # enqueued by name: tasks.py imports this module

MAX_SEND_ATTEMPTS = 8
# An attempt still open after this long belongs to a dead worker (a send call is bounded by
# PLATFORM_HTTP_TIMEOUT, 15 s, a few times over). It is also how long after an attempt began
# a search must run before "not found" is believed: by then any post the attempt made is
# minutes old, and X and Meta show a new post within seconds.
STUCK_AFTER = timedelta(minutes=5)
# The attempt outcome's code when a search showed that the reply never reached the platform.
NOT_FOUND_CODE = "not-found"


def delivery_adapter(account):
    """Who carries a reply: the platform's adapter, or the simulated network for simulated
    accounts (the composer still applies the real platform's rules to them)."""
    return get_adapter("simulator" if account.simulated else account.platform)


def reply_options(conversation: Conversation) -> list[ReplyOption]:
    return options_now(get_adapter(conversation.account.platform), conversation)


def options_now(adapter, conversation: Conversation) -> list[ReplyOption]:
    """The adapter's options, none available while the citizen cannot be reached (they blocked
    the account: ``Conversation.unreachable_at``), with the reason the composer shows."""
    options = adapter.reply_options(conversation, now=timezone.now())
    if conversation.unreachable_at is None:
        return options
    reason = _("The citizen cannot receive messages from this account since %(when)s (%(why)s). "
               "They have to write again first.") % {
        "when": timezone.localtime(conversation.unreachable_at).strftime("%d/%m/%Y %H:%M"),
        "why": conversation.unreachable_reason or _("the platform refused"),
    }
    return [replace(o, available=False, reason=reason) for o in options]


class PersonalDataInPublicReply(ReplyRefused):
    """A public reply that seems to hold personal data: it belongs in a private message."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        listed = "; ".join(f"{f.kind} ({f.text})" for f in findings[:3])
        example = {
            "phone number": _("such as an office's phone number"),
            "e-mail address": _("such as a service's address"),
        }.get(findings[0].kind, "")
        if example:
            text = _("This public reply seems to contain personal data: %(found)s. Send it as a private "
                     "message, or confirm that it is public information (%(example)s).")
        else:
            text = _("This public reply seems to contain personal data: %(found)s. Send it as a private "
                     "message, or confirm that it is public information.")
        super().__init__(text % {"found": listed, "example": example})


def reply_submit(
    *, conversation: Conversation, user, text: str, option_key: str,
    client_token: str = "", confirm_public: bool = False, last_seen_message_id: int | None = None,
    saved_reply: SavedReply | None = None,
) -> Message | ReplyDraft:
    """Check the reply against the platform's rules, store it as queued, send after commit.

    ``client_token`` (from the composer, or an API client's idempotency key) makes a double
    submit return the reply already queued instead of sending the citizen the answer twice.
    A public reply with personal data is refused unless the officer ``confirm_public``.
    ``last_seen_message_id`` is the newest message the officer was shown: if the citizen
    wrote or anyone answered since, ``ReplyCollision`` is raised and nothing is sent. The
    check holds the conversation's row lock until the reply is stored, so two officers
    pressing Send together cannot both pass. ``saved_reply`` is the saved reply the text came
    from: a holding one meets the first response as "holding" (routing.sla).

    A public reply that needs a supervisor's approval (``inbox.services.approvals``) is not
    queued: it is returned as a ``ReplyDraft`` waiting for approval, after the same checks.
    """
    if not user_has_team_perm(user, conversation.team, REPLY):
        raise PermissionDenied("You cannot answer this team's conversations.")
    with transaction.atomic():
        message_reply_collisions_check(
            conversation=conversation, user=user, last_seen_message_id=last_seen_message_id,
            client_token=client_token or None,
        )
        result = _reply_queue(conversation=conversation, user=user, text=text, option_key=option_key,
                              client_token=client_token, confirm_public=confirm_public, saved_reply=saved_reply,
                              last_seen_message_id=last_seen_message_id)
        reply_reopened_follow(result, conversation)
        return result


def reply_reopened_follow(result, conversation: Conversation) -> None:
    """Answering a resolved conversation reopened it: its clocks follow (routing.sla), after
    commit. Every path that queues a reply calls this (a direct reply, an approved draft)."""
    if getattr(result, "reopened_conversation", False):
        transaction.on_commit(lambda: sla.conversations_sync([conversation.id]))


def _reply_queue(*, conversation: Conversation, user, text: str, option_key: str, client_token: str,
                 confirm_public: bool, saved_reply: SavedReply | None, last_seen_message_id: int | None = None,
                 approved: dict | None = None) -> Message | ReplyDraft:
    """``approved``: the approval of a held draft (channels_adapters/approvals.py), audited
    with the reply; without it, a reply that needs approval is held as a draft."""
    if client_token:
        earlier = conversation.messages.filter(client_token=client_token).first()
        if earlier is not None:
            return earlier
    if conversation.account.status != conversation.account.Status.ACTIVE:
        raise ReplyRefused(
            _("The %(account)s account is %(status)s; an admin must reconnect it before replies can be sent.")
            % {"account": conversation.account, "status": conversation.account.get_status_display().lower()}
        )
    adapter = get_adapter(conversation.account.platform)
    options = {o.key: o for o in options_now(adapter, conversation)}
    option = options.get(option_key)
    if option is None:
        raise ReplyRefused(_("This channel has no %(option)r reply.") % {"option": option_key})
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
    if approved is not None:
        audit.update(approved)
    else:
        reasons = reply_approval_reasons(conversation=conversation, user=user, visibility=option.visibility)
        if reasons:
            return reply_draft_hold(
                conversation=conversation, user=user, text=text, option=option.key, visibility=option.visibility,
                reasons=reasons, last_seen_message_id=last_seen_message_id, saved_reply=saved_reply,
                confirm_public=confirm_public,
            )

    last_inbound = (
        conversation.messages.filter(direction=Message.Direction.INBOUND, deleted_at__isnull=True)
        .order_by("-sent_at", "-id").values_list("external_id", flat=True).first()
    )
    try:
        with transaction.atomic():
            message = message_reply_create(
                conversation=conversation, user=user, text=text, visibility=option.visibility,
                kind=option.kind, in_reply_to=last_inbound or "", client_token=client_token or None,
                audit=audit, saved_reply=saved_reply,
            )
            enqueue_on_commit(SEND_TASK, message.id)
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
        sla.replies_sent([message.id])  # stops the SLA clocks this reply meets (routing/sla.py)
        outcome = "sent"
    realtime.conversations_changed([conversation.id])
    return outcome


def _delivery_failed(adapter, message: Message, attempt, exc: AdapterError) -> str:
    account = message.conversation.account
    if exc.needs_reconnect:
        account_mark_error(account, str(exc), needs_reconnect=True)
    if exc.recipient_unreachable:
        conversation_reachability_set(message.conversation, reachable=False, reason=str(exc))
    if exc.uncertain:
        return _delivery_in_doubt(adapter, message, attempt, exc)
    if exc.permanent or message.attempts >= MAX_SEND_ATTEMPTS:
        message_mark_failed(message, attempt, error=str(exc), code=exc.code)
        return "failed"
    retry_at = exc.retry_at or timezone.now() + _backoff(message.attempts)
    message_mark_retry(message, attempt, error=str(exc), retry_at=retry_at, code=exc.code)

    task_named(SEND_TASK).apply_async((message.id,), eta=retry_at)
    return "retry"


def delivery_window(message: Message, attempt: DeliveryAttempt) -> DeliveryWindow:
    """Where to look for a reply in doubt: from the start of the first attempt that may have
    reached the platform, less the clock-skew margin, up to now.

    The attempts that may have reached it are the open one and any earlier one found absent
    and sent again (a post that showed up later than the search would still be found now;
    settled failures came with the platform's own "no"). The window runs up to now rather
    than to the attempt's end: the attempt is still open while it is in doubt, a dead
    worker's has no end, and a few more minutes to read cost a page at most.
    """
    earlier = message.delivery_attempts.filter(
        Q(finished_at__isnull=True) | Q(outcome=DeliveryAttempt.Outcome.UNCERTAIN) | Q(platform_code=NOT_FOUND_CODE)
    ).aggregate(start=Min("started_at"))["start"]
    start = min(t for t in (earlier, attempt.started_at) if t is not None)
    return DeliveryWindow(start=start - CLOCK_SKEW)


def _confirm(adapter, message: Message, attempt: DeliveryAttempt) -> Confirmation:
    """Search the platform for the reply. A failed search is "unknown", never "absent"."""
    account = message.conversation.account
    try:
        return adapter.confirm_delivery(account, message.conversation, message, delivery_window(message, attempt))
    except AdapterError as exc:
        logger.warning("send: could not search the platform for message %s: %s", message.id, exc)
        if exc.needs_reconnect:
            account_mark_error(account, str(exc), needs_reconnect=True)
        return Confirmation.unknown(_("The search on the platform failed: %(error)s") % {"error": exc})
    except Exception as exc:
        logger.exception("send: searching the platform for message %s failed", message.id)
        return Confirmation.unknown(_("The search on the platform failed: %(error)s") % {"error": type(exc).__name__})


def _still_in_doubt(message: Message, attempt: DeliveryAttempt) -> bool:
    """Inside a transaction: lock the reply, and say whether this attempt is still the open one.

    The message row is locked first, as the ``message_mark_*`` services update it first:
    a late worker and two overlapping sweeps settle one attempt one after the other, and
    only the first does anything (a requeued reply's new attempt is never touched by a
    search that was about the old one).
    """
    locked = Message.objects.select_for_update().filter(
        id=message.id, delivery_status=Message.Delivery.SENDING
    ).exists()
    return locked and DeliveryAttempt.objects.filter(id=attempt.id, finished_at__isnull=True).exists()


def _delivery_in_doubt(adapter, message: Message, attempt: DeliveryAttempt, exc: AdapterError) -> str:
    """Right after an uncertain failure: a reply the platform shows already is sent; anything
    else waits, in "sending" with its attempt open, for the sweep to settle it (see the module
    docstring: a search this early cannot prove that the reply is absent)."""
    confirmation = _confirm(adapter, message, attempt)
    if confirmation.is_delivered:
        return _settle_delivered(message, attempt, confirmation)
    doubt = _("%(error)s (checked on the platform: %(detail)s)") % {"error": exc, "detail": confirmation.detail}
    delivery_attempt_note(attempt, error=doubt, code=exc.code)
    return "in-doubt"


def _settle_delivered(message: Message, attempt: DeliveryAttempt, confirmation: Confirmation) -> str:
    with transaction.atomic():
        if not _still_in_doubt(message, attempt):
            return "settled-elsewhere"
        # The platform's time, unless it says the future (a skewed clock, a bad field): a reply
        # found now was not delivered later than now, and the SLA figures count from it.
        sent_at = min(confirmation.sent_at, timezone.now()) if confirmation.sent_at else None
        message_mark_sent(message, attempt, external_id=confirmation.external_id, sent_at=sent_at)
        sla.replies_sent([message.id])
    return "sent"


def delivery_settle(adapter, message: Message, attempt: DeliveryAttempt, *, now) -> str:
    """Decide a reply whose attempt is in doubt (the sweep calls this once it is old enough).

    Found: sent. Absent, from a search that read the whole window at least ``STUCK_AFTER``
    after the attempt began: the platform never had it, so it is queued to be sent again
    (or failed, not uncertain, once ``MAX_SEND_ATTEMPTS`` are spent). Anything else: failed
    as uncertain, for an officer to check; never resent.
    """
    confirmation = _confirm(adapter, message, attempt)
    if confirmation.is_delivered:
        return _settle_delivered(message, attempt, confirmation)
    why = attempt.error or _("the worker stopped while sending")
    if confirmation.is_absent and now - attempt.started_at >= STUCK_AFTER:

        facts = {"why": why, "detail": confirmation.detail, "attempts": message.attempts}
        with transaction.atomic():
            if not _still_in_doubt(message, attempt):
                return "settled-elsewhere"
            if message.attempts >= MAX_SEND_ATTEMPTS:
                message_mark_failed(message, attempt, code=NOT_FOUND_CODE, error=_(
                    "%(why)s. The reply is not on the platform (%(detail)s); it was tried %(attempts)d times."
                ) % facts)
                return "failed"
            message_mark_retry(message, attempt, retry_at=now, code=NOT_FOUND_CODE, error=_(
                "%(why)s. The reply is not on the platform (%(detail)s), so it is sent again."
            ) % facts)
            enqueue_on_commit(SEND_TASK, message.id)
        return "retry"
    with transaction.atomic():
        if not _still_in_doubt(message, attempt):
            return "settled-elsewhere"
        message_mark_failed(
            message, attempt, code=attempt.platform_code or "uncertain", uncertain=True,
            error=_("It is not known whether the platform received this reply (%(why)s; %(detail)s). "
                    "Check the conversation on the platform before sending it again.")
            % {"why": why, "detail": confirmation.detail},
        )
    return "uncertain"


def outbound_sweep() -> dict[str, int]:
    """Requeue replies whose retry time passed; settle replies left in "sending" by a crash
    or in doubt after an uncertain failure, once their attempt is ``STUCK_AFTER`` old."""

    now = timezone.now()
    due = list(
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND, delivery_status=Message.Delivery.QUEUED,
            next_attempt_at__lte=now - timedelta(seconds=30),
        ).values_list("id", flat=True)[:500]
    )
    for message_id in due:
        task_named(SEND_TASK).delay(message_id)
    stuck = list(
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND, delivery_status=Message.Delivery.SENDING,
            delivery_attempts__finished_at__isnull=True,
            delivery_attempts__started_at__lt=now - STUCK_AFTER,
        ).select_related("conversation__account").distinct()[:100]
    )
    for message in stuck:
        attempt = message.delivery_attempts.filter(finished_at__isnull=True).last()
        if attempt is None:
            continue
        delivery_settle(delivery_adapter(message.conversation.account), message, attempt, now=now)
        realtime.conversations_changed([message.conversation_id])
    return {"requeued": len(due), "settled": len(stuck)}
