"""Connecting a Telegram bot, and switching it between the webhook and getUpdates polling.

A bot token (``<bot id>:<secret>`` from BotFather) is checked with ``getMe``; the bot's
webhook secret is new on every connect. In webhook mode Telegram is told the URL and the
secret token (``setWebhook``); in polling mode the webhook is removed (``deleteWebhook``)
first, since Telegram refuses getUpdates while one is set. The account is stored through the
core's one service, ``channel_account_connect``; the platform call happens inside its
transaction, so a refused ``setWebhook`` stores nothing.
"""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from channels_adapters.base import AdapterError
from channels_adapters.telegram.adapter import UPDATES, WEBHOOK, api_for, webhook_url
from channels_adapters.telegram.client import TelegramApi
from channels_adapters.telegram.webhook import secret_token
from inbox.audit import audit_record
from inbox.models import ChannelAccount, Team
from inbox.queue import enqueue_on_commit
from inbox.services import account_credentials_set, account_cursor_set, channel_account_connect

MODES = ("webhook", "polling")


def _bot_id_of(token: str) -> str:
    bot_id, _, rest = token.partition(":")
    if not bot_id.isdigit() or not rest:
        raise AdapterError("That is not a bot token: BotFather gives one like 123456789:AA…", permanent=True)
    return bot_id


def telegram_bot_connect(*, user, bot_token: str, mode: str, default_team: Team | None = None,
                         method: str = "bot_token") -> ChannelAccount:
    """Connect (or reconnect) the bot the token belongs to, receiving in ``mode``."""
    bot_token = bot_token.strip()
    _bot_id_of(bot_token)
    api = TelegramApi(bot_token)
    me = api.get_me()
    bot_id = str(me["id"])
    credentials = {"bot_token": bot_token, "webhook_secret": secrets.token_urlsafe(32)}
    with transaction.atomic():
        account, _ = channel_account_connect(
            platform="telegram", external_id=bot_id, name=me.get("first_name") or me.get("username") or bot_id,
            handle=me.get("username") or "", credentials=credentials, default_team=default_team, actor=user,
            method=method, mode=mode,
        )
        _mode_apply(api, account, mode)
        if mode == "polling":
            enqueue_on_commit("channels_adapters.poll_channel", account.id)
    return account


def telegram_mode_set(*, user, account: ChannelAccount, mode: str) -> None:
    """Switch a connected bot between the webhook and polling, audited."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    with transaction.atomic():
        locked = ChannelAccount.objects.select_for_update().get(pk=account.pk)
        _mode_apply(api_for(locked), locked, mode)
        audit_record(user, "channel_account.mode", locked, platform="telegram", mode=mode)
        if mode == "polling":
            enqueue_on_commit("channels_adapters.poll_channel", locked.id)
    account.cursors = locked.cursors


def _mode_apply(api: TelegramApi, account: ChannelAccount, mode: str) -> None:
    if mode == "webhook":
        url = webhook_url()
        if not url.startswith("https://"):
            raise AdapterError(f"Telegram only posts to HTTPS addresses; this site is {url}. Use polling, or "
                               "set SITE_URL to the public https:// address.", permanent=True)
        credentials = dict(account.credentials or {})
        if not credentials.get("webhook_secret"):  # added from the command line without one
            credentials["webhook_secret"] = secrets.token_urlsafe(32)
            account_credentials_set(account, credentials)
        api.set_webhook(url, secret_token(account.external_id, credentials["webhook_secret"]))
        account_cursor_set(account, WEBHOOK, {"url": url, "seen_at": timezone.now().isoformat()})
    else:
        api.delete_webhook()
        account_cursor_set(account, WEBHOOK, {})
        cursor = dict((account.cursors or {}).get(UPDATES) or {})
        cursor.setdefault("offset", None)  # polling is chosen: no webhook check before the first poll
        account_cursor_set(account, UPDATES, cursor)
