"""Automatic replies: a first-contact acknowledgement and an out-of-hours message per
channel account (``inbox.AutoReplySetting``), and the "automatic reply" action of routing
rules. All of them go through ``autoreply_queue``.

An automatic reply is an outbound ``Message`` with no author and ``automatic`` set to its
reason. It leaves through the citizen's channel like an officer's reply (the same send task,
claim and delivery attempts), and:

- is sent at most once per conversation, reason and period (``period_hours``, 24 by default);
- is never sent to a conversation marked spam, nor where the platform forbids automated
  replies (``Adapter.allows_automatic_reply``: on X only to a citizen who addressed the
  account);
- may wait ``delay_minutes``; if a person answers first (or the conversation is resolved or
  marked spam) it is cancelled when its time comes (``automatic_reply_cancel_if_superseded``
  at claim time);
- never counts as a response: it neither sets ``first_response_at`` nor meets an SLA clock
  (``routing.sla.replies_sent`` counts only messages with an author).

Versions per language: the saved reply's version in the citizen's language
(``Conversation.language``), else in the account's default language, else its main text
(``inbox.services.library.saved_reply_text``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.utils import formats, timezone, translation

from channels_adapters.base import ReplyRefused
from channels_adapters.registry import get_adapter
from inbox.models import AutoReplySetting, ChannelAccount, Conversation, Message, SavedReply
from inbox.queue import task_named
from inbox.services import message_automatic_create
from inbox.services.library import ReplyText, saved_reply_render, saved_reply_text, variable_values
from routing.calendars import calendar_for, opening_hours_text

logger = logging.getLogger(__name__)

SEND_TASK = "channels_adapters.message_send"
DEFAULT_PERIOD = timedelta(hours=24)
# Meta's HUMAN_AGENT tag is for a person's answer; an automatic reply never uses it.
_HUMAN_ONLY_OPTIONS = frozenset({"human_agent"})
NEXT_OPENING = "{next_opening}"


def language_code(value: str) -> str:
    return (value or "").split("-")[0].split("_")[0].lower()


def saved_reply_version(saved_reply: SavedReply, language: str, default_language: str = "") -> ReplyText:
    """The text of ``saved_reply`` in ``language``, else ``default_language``, else its main text."""
    return saved_reply_text(saved_reply, [language, default_language])


def next_opening_text(account: ChannelAccount, language: str, *, now: datetime) -> str:
    """When the account's service opens again, written for the citizen (in their language
    and the calendar's time zone); empty when it is open or never opens."""
    cal = calendar_for(account.calendar)
    opening = cal.next_opening(now)
    if opening is None or opening <= now:
        return ""
    local = timezone.localtime(opening, cal.tz)
    with translation.override(language_code(language) or None):
        return formats.date_format(local, "DATETIME_FORMAT")


def is_out_of_hours(account: ChannelAccount, at: datetime) -> bool:
    return not calendar_for(account.calendar).is_open(at)


def _period(account: ChannelAccount) -> timedelta:
    setting = AutoReplySetting.objects.filter(account_id=account.pk).only("period_hours").first()
    return timedelta(hours=setting.period_hours) if setting and setting.period_hours else DEFAULT_PERIOD


def autoreply_queue(
    conversation: Conversation, saved_reply: SavedReply, *, reason: str, delay_minutes: int = 0,
) -> Message | None:
    """Queue an automatic reply from ``saved_reply`` (in the citizen's language), or return
    None when it must not be sent (spam, the platform forbids it, already sent in the
    period, no way to answer now). Safe to call twice: the conversation's row lock makes the
    "once per period" check and the insert one step."""
    if saved_reply is None:
        return None
    if reason not in Message.Automatic.values:
        raise ValueError(f"unknown automatic reply reason {reason!r}")
    now = timezone.now()
    with transaction.atomic():
        locked = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("account__calendar", "contact").get(pk=conversation.pk)
        )
        account = locked.account
        if (locked.status == Conversation.Status.SPAM or account.status != ChannelAccount.Status.ACTIVE
                or locked.unreachable_at is not None):
            return None
        adapter = get_adapter(account.platform)
        if not adapter.allows_automatic_reply(locked):
            logger.info("autoreply: %s forbids an automatic reply to conversation %s", adapter.label, locked.pk)
            return None
        if locked.messages.filter(automatic=reason, sent_at__gte=now - _period(account)).exists():
            return None
        wanted = Message.Visibility.PRIVATE if locked.kind == Conversation.Kind.PRIVATE else Message.Visibility.PUBLIC
        option = next(
            (o for o in adapter.reply_options(locked, now=now)
             if o.available and o.visibility == wanted and o.key not in _HUMAN_ONLY_OPTIONS),
            None,
        )
        if option is None:
            return None
        version = saved_reply_version(saved_reply, locked.language, account.default_language)
        text = version.body
        if NEXT_OPENING in text:
            text = text.replace(NEXT_OPENING, next_opening_text(account, locked.language or version.language, now=now))
        if "{" in text:  # the library's variables, as the composer fills them (no officer here)
            text = saved_reply_render(text, variable_values(
                locked, None, service_hours=opening_hours_text(account.calendar, version.language or locked.language),
            ))
        text = text.strip()
        try:
            adapter.validate_reply(locked, option, text)
        except ReplyRefused as exc:
            logger.warning("autoreply: saved reply %s refused for conversation %s: %s", saved_reply.pk, locked.pk, exc)
            return None
        last_inbound = (
            locked.messages.filter(direction=Message.Direction.INBOUND, deleted_at__isnull=True)
            .order_by("-sent_at", "-id").values_list("external_id", flat=True).first()
        )
        send_at = now + timedelta(minutes=max(delay_minutes, 0))
        message = message_automatic_create(
            conversation=locked, text=text, visibility=option.visibility, kind=option.kind, reason=reason,
            saved_reply=saved_reply, in_reply_to=last_inbound or "", send_at=send_at,
        )
        transaction.on_commit(partial(
            task_named(SEND_TASK).apply_async, args=(message.id,), countdown=max(delay_minutes, 0) * 60,
        ))
    return message


def autoreplies_after_ingest(new_conversation_ids: Sequence[int], new_message_ids: Sequence[int]) -> list[Message]:
    """The accounts' automatic replies for what an ingest batch stored (after routing).

    Outside service hours a conversation gets the out-of-hours message (it acknowledges too);
    otherwise a new conversation gets the first-contact acknowledgement.
    """
    if not new_message_ids:
        return []
    settings_by_account = {
        s.account_id: s for s in AutoReplySetting.objects.filter(
            account__conversations__messages__id__in=list(new_message_ids),
        ).select_related("acknowledgement", "out_of_hours", "account__calendar").distinct()
        if s.acknowledgement_id or s.out_of_hours_id
    }
    if not settings_by_account:
        return []
    conversations = (
        Conversation.objects.filter(
            messages__id__in=list(new_message_ids), messages__direction=Message.Direction.INBOUND,
            account_id__in=list(settings_by_account),
        ).exclude(status=Conversation.Status.SPAM).distinct().order_by("id")
    )
    now = timezone.now()
    new = set(new_conversation_ids)
    queued = []
    for conversation in conversations:
        setting = settings_by_account[conversation.account_id]
        # One automatic answer at a time: a rule's reply (routing ran just before) or another
        # automatic reply in the period stands for the account's.
        period = timedelta(hours=setting.period_hours or 24)
        if conversation.messages.exclude(automatic="").filter(sent_at__gte=now - period).exists():
            continue
        if setting.out_of_hours_id and is_out_of_hours(setting.account, now):
            saved, reason = setting.out_of_hours, Message.Automatic.OUT_OF_HOURS
        elif setting.acknowledgement_id and conversation.id in new:
            saved, reason = setting.acknowledgement, Message.Automatic.FIRST_CONTACT
        else:
            continue
        message = autoreply_queue(conversation, saved, reason=reason, delay_minutes=setting.delay_minutes)
        if message is not None:
            queued.append(message)
    return queued
