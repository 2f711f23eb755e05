"""The Telegram channel: a bot's private chats in (webhook or getUpdates), messages out.

A bot receives its updates one way at a time: Telegram refuses ``getUpdates`` while a
webhook is set. The account's mode lives in ``ChannelAccount.cursors``:

- ``webhook``: ``{"url": ...}`` while Telegram posts to ``/webhooks/telegram/``. ``poll``
  then only checks, hourly, that the webhook is still ours (``getWebhookInfo``) and says on
  the account what Telegram reports as its last delivery error; if it was removed, the bot
  goes back to polling.
- ``updates``: ``{"offset": N}``, the next ``update_id`` to ask ``getUpdates`` for. It moves
  in the transaction that stores the page's messages (``pipeline.poll_result_store``), so a
  crash before the commit asks Telegram for the same updates again (it keeps them until an
  offset past them confirms them, for 24 hours).

Switching (``connect.telegram_mode_set``, from the bot's page) calls ``setWebhook`` or
``deleteWebhook`` first, so the two never run together.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from channels_adapters.base import (
    Adapter,
    AdapterError,
    DeliveryResult,
    ParseResult,
    PollResult,
    ReplyOption,
    ReplyRefused,
    SimulatedAccount,
)
from channels_adapters.readers import json_object
from channels_adapters.telegram import payloads, simulate, webhook
from channels_adapters.telegram.client import TelegramApi
from inbox.models import ChannelAccount, Conversation, Message, RawEvent

logger = logging.getLogger(__name__)

MAX_LENGTH = 4096  # sendMessage: 1-4096 characters, as Telegram counts them (UTF-16 code units)
WEBHOOK_CHECK_EVERY = timedelta(hours=1)
CONFLICT_BACKOFF = timedelta(minutes=5)
WEBHOOK = "webhook"
UPDATES = "updates"


def long_poll_seconds() -> int:
    # A poll holds a worker this long while the bot is quiet; the beat starts the next one.
    return int(getattr(settings, "TELEGRAM_LONG_POLL_SECONDS", 20))


def webhook_url() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("webhooks:receive", args=["telegram"])


def api_for(account: ChannelAccount) -> TelegramApi:
    return TelegramApi(str((account.credentials or {}).get("bot_token") or ""))


def in_webhook_mode(account: ChannelAccount) -> bool:
    return bool(((account.cursors or {}).get(WEBHOOK) or {}).get("url"))


def telegram_length(text: str) -> int:
    """Telegram counts UTF-16 code units: an emoji outside the BMP is two."""
    return len(text.encode("utf-16-le")) // 2


@lru_cache(maxsize=1024)
def _bot_id(account_id: int) -> str:
    # An account's platform id never changes: one query per account and process.
    return ChannelAccount.objects.filter(id=account_id).values_list("external_id", flat=True).first() or ""


class TelegramAdapter(Adapter):
    platform = "telegram"
    label = "Telegram"
    webhook_slug = "telegram"
    supports_polling = True
    connect_url_name = "telegram:connect"
    # Never the secret-token header.
    kept_headers = ("Content-Type", "User-Agent")

    # --- inbound -------------------------------------------------------------------------
    def verify(self, request: HttpRequest) -> None:
        webhook.verify(request)

    def webhook_account_ids(self, request: HttpRequest) -> list[str]:
        json_object(request.body)  # an unreadable body is a 400, before anything is stored
        named = webhook.bot_id(request)
        return [named] if named else []

    def parse(self, raw: RawEvent) -> ParseResult:
        bot_id = _bot_id(raw.account_id) if raw.account_id else ""
        return payloads.parse(json_object(bytes(raw.body)), bot_id=bot_id)

    def poll(self, account: ChannelAccount) -> PollResult:
        now = timezone.now()
        api = api_for(account)
        cursors = account.cursors or {}
        if in_webhook_mode(account):
            return self._check_webhook(api, account, now)
        cursor = dict(cursors.get(UPDATES) or {})
        if "offset" not in cursor:
            # The first poll of this bot: a webhook that someone set is not ours to remove.
            info = api.webhook_info()
            if info.get("url"):
                return self._webhook_found(account, info, now)
        try:
            updates = api.get_updates(offset=cursor.get("offset"), timeout=long_poll_seconds())
        except AdapterError as exc:
            if exc.code == "409":  # a webhook was set meanwhile (from another tool?)
                info = api.webhook_info()
                if info.get("url"):
                    return self._webhook_found(account, info, now)
            raise
        ids = payloads.update_ids(updates)
        if ids:
            cursor["offset"] = max(ids) + 1
        else:
            cursor.setdefault("offset", None)
        pages = [payloads.poll_page(account.external_id, updates)] if updates else []
        # The next long poll starts at the beat's next tick (or at once while updates flow).
        return PollResult(pages={UPDATES: pages}, cursors={UPDATES: cursor, WEBHOOK: {}},
                          next_poll_at=now if updates else now + timedelta(seconds=1))

    def _webhook_found(self, account: ChannelAccount, info: dict, now: datetime) -> PollResult:
        url = str(info.get("url"))
        if url != webhook_url():
            raise AdapterError(
                f"The bot's webhook points to {url}, not to this inbox: set it from the bot's page "
                "(webhook or polling) to receive its messages here.", code="409",
                retry_at=now + CONFLICT_BACKOFF,
            )
        return PollResult(cursors={WEBHOOK: {"url": url, "seen_at": now.isoformat()}},
                          next_poll_at=now + WEBHOOK_CHECK_EVERY)

    def _check_webhook(self, api: TelegramApi, account: ChannelAccount, now: datetime) -> PollResult:
        info = api.webhook_info()
        url = str(info.get("url") or "")
        if not url:
            logger.warning("telegram %s: the webhook was removed; polling again", account.external_id)
            return PollResult(cursors={WEBHOOK: {}}, next_poll_at=now)
        error_at = info.get("last_error_date")
        if isinstance(error_at, int) and now - datetime.fromtimestamp(error_at, UTC) < WEBHOOK_CHECK_EVERY:
            raise AdapterError(f"Telegram could not deliver to the webhook: {info.get('last_error_message')}",
                               code="webhook", retry_at=now + WEBHOOK_CHECK_EVERY)
        return PollResult(cursors={WEBHOOK: {"url": url, "seen_at": now.isoformat()}},
                          next_poll_at=now + WEBHOOK_CHECK_EVERY)

    # --- outbound ------------------------------------------------------------------------
    def reply_options(self, conversation: Conversation, *, now: datetime) -> list[ReplyOption]:
        return [ReplyOption("private", "Message", Message.Kind.DM, Message.Visibility.PRIVATE, max_length=MAX_LENGTH)]

    def validate_reply(self, conversation: Conversation, option: ReplyOption, text: str) -> None:
        super().validate_reply(conversation, option, text)
        length = telegram_length(text)
        if length > MAX_LENGTH:
            raise ReplyRefused(
                f"Telegram counts this message as {length} characters (an emoji counts as 2); the limit is "
                f"{MAX_LENGTH}. Shorten it or send it in two parts."
            )
        if payloads.chat_of(conversation.thread_key) is None:
            raise ReplyRefused("This conversation has no Telegram chat to answer in.")

    def send(self, account: ChannelAccount, conversation: Conversation, message: Message) -> DeliveryResult:
        chat_id = payloads.chat_of(conversation.thread_key)
        if chat_id is None:
            raise AdapterError("This conversation has no Telegram chat to answer in.", permanent=True)
        result = api_for(account).send_message(chat_id, message.text, reply_to=_reply_to(chat_id, message))
        date = result.get("date")
        sent_at = datetime.fromtimestamp(date, UTC) if isinstance(date, int) else timezone.now()
        return DeliveryResult(external_id=payloads.message_id(chat_id, result["message_id"]),
                              sent_at=min(sent_at, timezone.now()))

    # confirm_delivery keeps the default ("unknown"): the Bot API cannot list what a bot sent.

    # --- the demo's simulated network ----------------------------------------------------
    def simulated_accounts(self) -> list[SimulatedAccount]:
        return simulate.ACCOUNTS

    def simulated_payload(self, account: ChannelAccount, event: dict) -> tuple[bytes, dict[str, str]]:
        return simulate.telegram_payloads(event, account.external_id)


def _reply_to(chat_id: int, message: Message) -> int | None:
    """The citizen's message this answers, as a reply in the chat (if it is in this chat)."""
    chat, _, number = (message.in_reply_to or "").partition(":")
    return int(number) if chat == str(chat_id) and number.isdigit() else None
