"""X-shaped webhook deliveries for the demo, built from the simulated citizen feed.

Each simulator event becomes a signed Account Activity API body (``tweet_create_events`` for
mentions and comments, ``direct_message_events`` for DMs), so the demo's X conversations go
through the same verification and parsing as real ones. Ids are numeric, as X's are, and
derived from the feed's ids so a follow-up lands in its thread.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from channels_adapters.base import SimulatedAccount
from channels_adapters.x.webhook import SIGNATURE_HEADER, sign

ACCOUNTS = [
    SimulatedAccount("x", "1590000000000000001", "Ajuntament de la Ciutat", "ajuntament_demo", team="general"),
]


def numeric_id(value: str) -> str:
    """A stable 19-digit id, like an X snowflake, for a simulator id."""
    digest = int.from_bytes(hashlib.sha256(value.encode()).digest()[:8], "big")
    return str(1_000_000_000_000_000_000 + digest % 8_000_000_000_000_000_000)


def _user_v1(author: dict) -> dict:
    return {
        "id_str": numeric_id(author["id"]), "name": author.get("name", ""),
        "screen_name": author.get("handle", ""), "protected": False, "verified": False,
        "followers_count": 0,
    }


def x_payloads(feed_event: dict, account_external_id: str) -> tuple[bytes, dict[str, str]]:
    """One feed event -> (signed Account Activity body, headers to POST to /webhooks/x/)."""
    created = datetime.fromisoformat(feed_event["created_at"]).astimezone(UTC)
    timestamp_ms = str(int(created.timestamp() * 1000))
    author = feed_event["from"]
    sender_id = numeric_id(author["id"])
    event_id = numeric_id(feed_event["id"])
    if feed_event["channel"] == "dm":
        body = {
            "for_user_id": account_external_id,
            "direct_message_events": [{
                "type": "message_create", "id": event_id, "created_timestamp": timestamp_ms,
                "message_create": {
                    "target": {"recipient_id": account_external_id}, "sender_id": sender_id,
                    "message_data": {"text": feed_event["text"], "entities": {
                        "hashtags": [], "symbols": [], "user_mentions": [], "urls": []}},
                },
            }],
            "users": {sender_id: {"id": sender_id, "name": author.get("name", ""),
                                  "screen_name": author.get("handle", ""), "protected": False}},
        }
    else:
        # A follow-up answers the thread's first post, as a citizen's reply on X would.
        thread_root = feed_event.get("thread_id") or feed_event["id"]
        parent = numeric_id(thread_root) if thread_root != feed_event["id"] else None
        body = {
            "for_user_id": account_external_id,
            "tweet_create_events": [{
                "created_at": created.strftime("%a %b %d %H:%M:%S +0000 %Y"), "id_str": event_id,
                "text": feed_event["text"], "truncated": False,
                "in_reply_to_status_id_str": parent, "user": _user_v1(author),
                "entities": {"hashtags": [], "urls": [], "symbols": [], "user_mentions": [
                    {"id_str": account_external_id, "indices": [0, 0]}]},
                "timestamp_ms": timestamp_ms,
            }],
        }
    raw = json.dumps(body, ensure_ascii=False).encode()
    return raw, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(raw)}
