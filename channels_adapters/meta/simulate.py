"""Meta-shaped webhook deliveries for the demo, from the simulator's citizen feed.

The simulator's ``Feed.event()`` produces neutral events; this turns one into the body
Meta would POST for it (a Page ``feed`` comment change, an Instagram ``comments`` change or
a ``messaging`` event), signed with the app secret, so the demo exercises the real
verification and parsing code.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from channels_adapters.base import SimulatedAccount
from channels_adapters.meta.webhook import SIGNATURE_HEADER, sign

ACCOUNTS = [
    SimulatedAccount("facebook", "104000000000001", "Ajuntament de la Ciutat", "ajuntament.ciutat", team="waste"),
    SimulatedAccount("instagram", "17841400000000001", "ajuntament.ciutat", "ajuntament.ciutat", team="general"),
]

SIMULATED_POSTS = 6  # comment threads are spread over a few recent posts


def _post_number(thread_id: str) -> str:
    return str(int(hashlib.sha256(thread_id.encode()).hexdigest()[:8], 16) % SIMULATED_POSTS + 1)


def meta_payloads(feed_event: dict, account_external_id: str, platform: str) -> tuple[bytes, dict[str, str]]:
    created = datetime.fromisoformat(feed_event["created_at"])
    seconds = int(created.timestamp())
    author = feed_event["from"]
    event_id, thread_id = feed_event["id"], feed_event["thread_id"]
    is_reply = event_id != thread_id
    entry: dict = {"id": account_external_id, "time": seconds}
    if feed_event["channel"] == "dm":
        entry["messaging"] = [{
            "sender": {"id": author["id"]}, "recipient": {"id": account_external_id},
            "timestamp": int(created.timestamp() * 1000),
            "message": {"mid": f"m_{event_id}", "text": feed_event["text"]},
        }]
    elif platform == "instagram":
        value = {
            "from": {"id": author["id"], "username": author["handle"]},
            "media": {"id": f"{account_external_id}{_post_number(thread_id)}", "media_product_type": "FEED"},
            "id": event_id, "text": feed_event["text"],
        }
        if is_reply:
            value["parent_id"] = thread_id
        entry["changes"] = [{"field": "comments", "value": value}]
    else:
        post_id = f"{account_external_id}_{_post_number(thread_id)}"
        entry["changes"] = [{"field": "feed", "value": {
            "from": {"id": author["id"], "name": author["name"]},
            "post": {"status_type": "added_photos", "is_published": True, "id": post_id},
            "message": feed_event["text"], "post_id": post_id, "comment_id": f"{post_id}_{event_id}",
            "created_time": seconds, "item": "comment",
            "parent_id": f"{post_id}_{thread_id}" if is_reply else post_id, "verb": "add",
        }}]
    body = json.dumps(
        {"object": "instagram" if platform == "instagram" else "page", "entry": [entry]}, ensure_ascii=False
    ).encode()
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body)}
