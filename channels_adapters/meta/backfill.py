"""Backfill and the safety-net poll: recent comments on recent posts, recent conversations.

Webhooks are the main path; this catches what they missed (the app was down, Meta gave
up retrying) and fills a newly connected account with its recent history. Each page of
results becomes a body shaped like a webhook delivery, so it is parsed by the same code
into the same ids, and the database's uniqueness makes an item fetched twice one message.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from channels_adapters.base import PollResult
from channels_adapters.meta.client import SLOW_DOWN_AT, MetaClient
from channels_adapters.meta.payloads import when
from inbox.models import ChannelAccount

FIRST_BACKFILL = timedelta(days=7)  # Meta's longest answer window: older items cannot be answered
OVERLAP = timedelta(minutes=10)  # re-read a little: late edits and clock skew cost nothing
POLL_EVERY = timedelta(minutes=15)
POLL_SLOWLY_EVERY = timedelta(hours=1)
RECENT_POSTS = 25
RECENT_MEDIA = 15


def account_backfill(account: ChannelAccount, client: MetaClient, *, now: datetime) -> PollResult:
    cursor = (account.cursors or {}).get("backfill") or {}
    since = datetime.fromisoformat(cursor["since"]) if cursor.get("since") else now - FIRST_BACKFILL
    if account.platform == "instagram":
        bodies = [_ig_comments(account, client, since, now), _conversations(account, client, since, now)]
    else:
        bodies = [_fb_comments(account, client, since, now), _conversations(account, client, since, now)]
    usage = client.usage()
    slow = usage is not None and usage.percent >= SLOW_DOWN_AT
    return PollResult(
        pages={"backfill": [b for b in bodies if b is not None]},
        cursors={"backfill": {"since": (now - OVERLAP).isoformat()}},
        next_poll_at=now + (POLL_SLOWLY_EVERY if slow else POLL_EVERY),
    )


def _body(object_type: str, account_id: str, now: datetime, key: str, items: list[dict]) -> bytes | None:
    if not items:
        return None
    entry = {"id": account_id, "time": int(now.timestamp()), key: items}
    return json.dumps({"object": object_type, "entry": [entry], "backfill": True}, ensure_ascii=False).encode()


def _fb_comments(account: ChannelAccount, client: MetaClient, since: datetime, now: datetime) -> bytes | None:
    changes = []
    posts = client.pages(f"{account.external_id}/posts", max_pages=1, fields="id,created_time,updated_time",
                         limit=RECENT_POSTS)
    for post in posts:
        touched = post.get("updated_time") or post.get("created_time")
        if touched and when(touched) < since:
            continue
        comments = client.pages(
            f"{post['id']}/comments", max_pages=3, limit=100, filter="stream", order="reverse_chronological",
            fields="id,message,created_time,from{id,name},parent{id},attachment{type,url,media}",
        )
        for comment in comments:
            created = when(comment["created_time"])
            if created < since:
                break  # newest first: the rest is older
            value = {
                "item": "comment", "verb": "add", "comment_id": comment["id"], "post_id": post["id"],
                "parent_id": (comment.get("parent") or {}).get("id") or post["id"],
                "message": comment.get("message", ""), "created_time": int(created.timestamp()),
            }
            if comment.get("from"):
                value["from"] = comment["from"]
            image = (((comment.get("attachment") or {}).get("media") or {}).get("image") or {}).get("src")
            if image:
                value["photo"] = image
            changes.append({"field": "feed", "value": value})
    return _body("page", account.external_id, now, "changes", changes)


def _ig_comments(account: ChannelAccount, client: MetaClient, since: datetime, now: datetime) -> bytes | None:
    changes = []
    fields = "id,text,timestamp,username,from{id,username}"
    for media in client.pages(f"{account.external_id}/media", max_pages=1, fields="id,timestamp", limit=RECENT_MEDIA):
        comments = client.pages(f"{media['id']}/comments", max_pages=3, limit=50,
                                fields=f"{fields},replies{{{fields}}}")
        for comment in comments:
            replies = (comment.get("replies") or {}).get("data") or []
            for item, parent in [(comment, ""), *((r, comment["id"]) for r in replies)]:
                created = when(item["timestamp"])
                if created < since:
                    continue
                value = {
                    "id": item["id"], "text": item.get("text", ""), "media": {"id": media["id"]},
                    "from": item.get("from") or {"id": f"ig-user:{item.get('username', '')}",
                                                 "username": item.get("username", "")},
                    "timestamp": int(created.timestamp()),
                }
                if parent:
                    value["parent_id"] = parent
                changes.append({"field": "comments", "value": value})
    return _body("instagram", account.external_id, now, "changes", changes)


def _conversations(account: ChannelAccount, client: MetaClient, since: datetime, now: datetime) -> bytes | None:
    instagram = account.platform == "instagram"
    page_id = account.external_id if not instagram else str(account.credentials.get("page_id", ""))
    events = []
    conversations = client.pages(
        f"{page_id}/conversations", max_pages=2, limit=25, platform="instagram" if instagram else "messenger",
        fields="id,updated_time,messages.limit(25){id,created_time,from,to,message}",
    )
    for conversation in conversations:
        if conversation.get("updated_time") and when(conversation["updated_time"]) < since:
            break  # listed by last activity, newest first
        for message in (conversation.get("messages") or {}).get("data") or []:
            created = when(message["created_time"])
            sender = str((message.get("from") or {}).get("id", ""))
            if created < since or not sender:
                continue
            event = {
                "sender": {"id": sender}, "recipient": {"id": account.external_id},
                "timestamp": int(created.timestamp() * 1000),
                "message": {"mid": message["id"], "text": message.get("message", "")},
            }
            if sender in (page_id, account.external_id):
                event["message"]["is_echo"] = True
            events.append(event)
    return _body("instagram" if instagram else "page", account.external_id, now, "messaging", events)
