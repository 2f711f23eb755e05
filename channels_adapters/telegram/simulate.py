"""Telegram-shaped webhook deliveries for the demo, built from the simulated citizen feed.

A bot only has private chats, so every feed event (mention, comment or DM elsewhere) becomes
a private ``message`` Update, with the fields a real one carries (``from`` with
``language_code``, ``chat`` of type ``private``); a follow-up answers the thread's first
message, as a citizen's reply in the app does. Ids are numbers, as Telegram's are, derived
from the feed's ids so a follow-up lands in its chat. The secret-token header is the
simulated bot's (``webhook.simulated_secret``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from channels_adapters.base import SimulatedAccount
from channels_adapters.telegram.webhook import SECRET_HEADER, secret_token, simulated_secret

ACCOUNTS = [
    SimulatedAccount("telegram", "7000000001", "012 Telegram", "atencio012_bot", team="general"),
]


def _number(value: str, *, low: int, span: int) -> int:
    digest = int.from_bytes(hashlib.sha256(value.encode()).digest()[:8], "big")
    return low + digest % span


def telegram_payloads(feed_event: dict, bot_id: str) -> tuple[bytes, dict[str, str]]:
    """One feed event -> (an Update, the headers Telegram would POST to /webhooks/telegram/)."""
    created = int(datetime.fromisoformat(feed_event["created_at"]).timestamp())
    author = feed_event["from"]
    user_id = _number(author["id"], low=100_000_000, span=7_000_000_000)
    first, _, last = (author.get("name") or author.get("handle") or "").partition(" ")
    user = {"id": user_id, "is_bot": False, "first_name": first or "Citizen"}
    if last:
        user["last_name"] = last
    if author.get("handle"):
        user["username"] = author["handle"]
    language = feed_event.get("language")
    if language:
        user["language_code"] = language
    chat = {"id": user_id, "first_name": user["first_name"], "type": "private"}
    for key in ("last_name", "username"):
        if key in user:
            chat[key] = user[key]
    message = {
        "message_id": _number(feed_event["id"], low=1, span=2_000_000_000),
        "from": user, "chat": chat, "date": created, "text": feed_event["text"],
    }
    thread = feed_event.get("thread_id") or feed_event["id"]
    if thread != feed_event["id"]:
        message["reply_to_message"] = {
            "message_id": _number(thread, low=1, span=2_000_000_000), "from": user, "chat": chat,
            "date": created - 60, "text": "",
        }
    update = {"update_id": _number(f"u:{feed_event['id']}", low=100_000_000, span=800_000_000), "message": message}
    body = json.dumps(update, ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json",
                  SECRET_HEADER: secret_token(bot_id, simulated_secret(bot_id))}
