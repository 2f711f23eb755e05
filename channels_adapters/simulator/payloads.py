"""The simulated platform's webhook bodies -> ``InboundMessage`` values, read item by item.

A body is ``{"account_id": ..., "events": [...]}``; each event is a message, an edit or a
deletion in one of three channels (mention, comment, dm); anything else (likes, follows) is
ignored on purpose.
"""

from __future__ import annotations

from channels_adapters.base import (
    Action,
    Attachment,
    Ignored,
    InboundAuthor,
    InboundMessage,
    MalformedPayload,
    ParseResult,
)
from channels_adapters.readers import iso_time, json_object, opt_str, req_str

KINDS = {"mention": ("mention", "public"), "comment": ("comment", "public"), "dm": ("dm", "private")}
ACTIONS = {"message": Action.CREATE, "edit": Action.EDIT, "delete": Action.DELETE}


def load(body: bytes) -> dict:
    data = json_object(body)
    if not isinstance(data.get("account_id"), str):
        raise MalformedPayload("expected an object with an account_id")
    if not isinstance(data.get("events"), list):
        raise MalformedPayload("expected an events list")
    return data


def account_ids(body: bytes) -> list[str]:
    return [load(body)["account_id"]]


def parse(body: bytes, *, platform: str) -> ParseResult:
    data = load(body)
    result = ParseResult()
    for i, event in enumerate(data["events"]):
        result.read(f"events[{i}]", event, _event, platform, data["account_id"], event)
    return result


def _text(value, name: str, *, required: bool = True) -> str:
    return req_str(value, name) if required else opt_str(value, name)


def _event(platform: str, account_id: str, event) -> InboundMessage | Ignored:
    if not isinstance(event, dict):
        raise MalformedPayload("each event must be an object")
    action = ACTIONS.get(event.get("type", "message"))
    if action is None:
        return Ignored(f"simulator.{event.get('type')}")  # likes, follows
    channel = event.get("channel", "mention")
    if channel not in KINDS:
        raise MalformedPayload(f"unknown channel {channel!r}")
    author = event.get("from") or {}
    if not isinstance(author, dict):
        raise MalformedPayload("from must be an object")
    if author.get("id") == account_id:
        return Ignored("simulator.own_post")  # the account's own posts
    kind, visibility = KINDS[channel]
    attachments = tuple(
        Attachment(type=_text(a.get("type"), "attachment type"), url=a.get("url", ""), name=a.get("name", ""))
        for a in event.get("attachments") or []
        if isinstance(a, dict)
    )
    return InboundMessage(
        platform=platform, account_external_id=account_id,
        external_id=_text(event.get("id"), "id"),
        thread_key=f"{channel}:{_text(event.get('thread_id'), 'thread_id')}",
        kind=kind, visibility=visibility,
        author=InboundAuthor(
            external_id=_text(author.get("id"), "from.id"),
            handle=_text(author.get("handle"), "from.handle", required=False),
            name=_text(author.get("name"), "from.name", required=False),
            profile={k: v for k, v in author.items() if k in ("location", "followers", "verified")},
        ),
        text=_text(event.get("text"), "text", required=action == Action.CREATE),
        sent_at=iso_time(event.get("created_at"), "created_at"), attachments=attachments,
        in_reply_to=_text(event.get("reply_to"), "reply_to", required=False),
        action=action,
    )
