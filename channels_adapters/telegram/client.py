"""The only module that talks to Telegram: the Bot API over HTTPS, with ``requests``.

Why not a client library: python-telegram-bot (v20+) and aiogram are asyncio-only and would
need an event loop inside every synchronous Celery worker; pyTelegramBotAPI wraps the same
JSON calls with its own threading and global state. The Bot API is plain JSON over HTTPS
(``POST /bot<token>/<method>``, answers ``{"ok": ..., "result"|"description",
"error_code", "parameters"}``), so this module is small, has a timeout on every call, and
tests intercept it with ``responses`` under ``requests``, like tweepy's session for X.

Every failure leaves as an ``AdapterError`` saying whether to retry, when (``retry_after``),
whether the bot token is gone (401) and whether the citizen blocked the bot (403). The bot
token is part of every URL: it never leaves this module in an error text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.utils import timezone

from channels_adapters.base import AdapterError

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.telegram.org"
# What the bot asks Telegram for (setWebhook / getUpdates ``allowed_updates``): private
# messages, their edits, and being blocked or started again.
ALLOWED_UPDATES = ("message", "edited_message", "my_chat_member")
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API's getFile limit


def api_base_url() -> str:
    # A local Bot API server (telegram-bot-api) can stand in for api.telegram.org.
    return str(getattr(settings, "TELEGRAM_API_BASE_URL", DEFAULT_API_BASE_URL)).rstrip("/")


@dataclass(frozen=True)
class Download:
    content_type: str
    size: int | None
    chunks: Iterator[bytes]


class TelegramApi:
    """One bot's calls. ``token`` is the bot token BotFather gave (``<bot id>:<secret>``)."""

    def __init__(self, token: str, *, session: requests.Session | None = None):
        if not token:
            raise AdapterError("The Telegram bot has no token; an admin must connect it.",
                               permanent=True, needs_reconnect=True, code="no-credentials")
        self.token = token
        self.session = session or requests.Session()
        self.timeout = settings.PLATFORM_HTTP_TIMEOUT

    def _hide(self, text: str) -> str:
        return text.replace(self.token, "<bot token>")

    def call(self, method: str, params: dict | None = None, *, sending: bool = False,
             timeout: float | None = None) -> object:
        url = f"{api_base_url()}/bot{self.token}/{method}"
        try:
            response = self.session.post(url, json=params or {}, timeout=timeout or self.timeout)
        except requests.ConnectTimeout:
            # The connection was never made: nothing reached Telegram.
            raise AdapterError(f"Telegram did not answer in time ({method})", code="timeout") from None
        except requests.ConnectionError as exc:
            # Refused or reset: a reset after the request left may mean Telegram acted on it.
            raise AdapterError(f"No connection to Telegram ({method}): {self._hide(str(exc))[:300]}",
                               code="network", uncertain=sending) from None
        except requests.RequestException as exc:
            # A read timeout after the request left: Telegram may have sent the message.
            raise AdapterError(f"No answer from Telegram ({method}): {self._hide(str(exc))[:300]}",
                               code="network", uncertain=sending) from None
        return self._result(method, response, sending=sending)

    def _result(self, method: str, response: requests.Response, *, sending: bool) -> object:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if response.status_code >= 500 or response.status_code == 429:
                raise AdapterError(f"Telegram is having trouble ({response.status_code})",
                                   code=str(response.status_code))
            raise AdapterError(f"Telegram sent an unreadable answer to {method} ({response.status_code})",
                               code=str(response.status_code), uncertain=sending and response.ok)
        if body.get("ok") is True:
            return body.get("result")
        raise translate(method, body, response.status_code)

    # --- the calls -------------------------------------------------------------------------
    def get_me(self) -> dict:
        me = self.call("getMe")
        if not isinstance(me, dict) or not isinstance(me.get("id"), int) or not me.get("is_bot"):
            raise AdapterError("Telegram did not say which bot this token belongs to", permanent=True)
        return me

    def set_webhook(self, url: str, secret_token: str) -> None:
        self.call("setWebhook", {"url": url, "secret_token": secret_token,
                                 "allowed_updates": list(ALLOWED_UPDATES), "max_connections": 40})

    def delete_webhook(self) -> None:
        # Pending updates are kept: getUpdates reads them next.
        self.call("deleteWebhook", {"drop_pending_updates": False})

    def webhook_info(self) -> dict:
        info = self.call("getWebhookInfo")
        return info if isinstance(info, dict) else {}

    def get_updates(self, *, offset: int | None, timeout: int, limit: int = 100) -> list:
        params = {"timeout": timeout, "limit": limit, "allowed_updates": list(ALLOWED_UPDATES)}
        if offset is not None:
            params["offset"] = offset
        # The long poll holds the request open up to ``timeout`` seconds: wait that much more.
        result = self.call("getUpdates", params, timeout=timeout + self.timeout)
        if not isinstance(result, list):
            raise AdapterError("Telegram's getUpdates answer holds no list of updates")
        return result

    def send_message(self, chat_id: int, text: str, *, reply_to: int | None = None) -> dict:
        # No parse_mode: the officer's text goes as plain text, so nothing in it is markup.
        params: dict = {"chat_id": chat_id, "text": text, "link_preview_options": {"is_disabled": True}}
        if reply_to is not None:
            params["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
        result = self.call("sendMessage", params, sending=True)
        if not isinstance(result, dict) or not isinstance(result.get("message_id"), int):
            raise AdapterError("Telegram accepted the message but did not give its id", uncertain=True)
        return result

    def download(self, file_id: str) -> Download:
        """A file a citizen sent, fetched through the bot (the token stays on the server)."""
        info = self.call("getFile", {"file_id": file_id})
        path = info.get("file_path") if isinstance(info, dict) else None
        if not isinstance(path, str) or not path:
            raise AdapterError("Telegram has no file to download (it may be larger than 20 MB)", permanent=True)
        url = f"{api_base_url()}/file/bot{self.token}/{path}"
        try:
            response = self.session.get(url, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise AdapterError(f"Could not fetch the file from Telegram: {self._hide(str(exc))[:300]}",
                               code="network") from None
        if response.status_code != 200:
            response.close()
            raise AdapterError(f"Telegram answered {response.status_code} for the file",
                               code=str(response.status_code), permanent=response.status_code < 500)
        size = response.headers.get("Content-Length")
        return Download(
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
            size=int(size) if size and size.isdigit() else None,
            chunks=_limited(response, MAX_DOWNLOAD_BYTES),
        )


def _limited(response: requests.Response, limit: int) -> Iterator[bytes]:
    sent = 0
    try:
        for chunk in response.iter_content(64 * 1024):
            sent += len(chunk)
            if sent > limit:
                return
            yield chunk
    finally:
        response.close()


def translate(method: str, body: dict, status: int) -> AdapterError:
    """A Bot API error (``ok: false``) as an AdapterError the tasks know how to handle."""
    code = body.get("error_code") if isinstance(body.get("error_code"), int) else status
    description = str(body.get("description") or "no description")[:300]
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    if code == 429:
        retry_after = parameters.get("retry_after")
        seconds = retry_after if isinstance(retry_after, int) and 0 <= retry_after <= 86400 else 30
        return AdapterError(f"Telegram rate limit reached: {description}", code="429",
                            retry_at=timezone.now() + timedelta(seconds=seconds + 1))
    if code == 401 or (code == 404 and method == "getMe"):
        return AdapterError(f"Telegram no longer accepts this bot's token ({description}); an admin must "
                            "reconnect the bot.", permanent=True, needs_reconnect=True, code="401")
    if code == 403:
        # "bot was blocked by the user", "user is deactivated", "bot can't initiate
        # conversation with a user": this citizen cannot be reached; the bot is fine.
        blocked = "blocked" in description.lower()
        return AdapterError(f"Telegram refused: {description}", permanent=True,
                            code="blocked" if blocked else "403", recipient_unreachable=method == "sendMessage")
    if code == 409:
        return AdapterError(f"Telegram refused {method}: {description}", code="409")
    if isinstance(code, int) and code >= 500:
        return AdapterError(f"Telegram is having trouble ({code} {description})", code=str(code))
    if parameters.get("migrate_to_chat_id"):
        return AdapterError(f"The chat moved: {description}", permanent=True, code="migrated")
    return AdapterError(f"Telegram rejected {method}: {description}", permanent=True, code=str(code))
