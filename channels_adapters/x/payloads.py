"""X payloads -> typed ``InboundMessage`` values, validated field by field.

Four shapes arrive, all handled here and nowhere else:

* Account Activity API webhooks: ``{"for_user_id", "tweet_create_events" | "direct_message_events"
  | "tweet_delete_events", "users"}`` with v1.1-style posts and legacy DM events;
* X Activity API envelopes: ``{"data": {"event_type", "filter": {"user_id"}, "payload", "includes"}}``
  (``post.mention.create``, ``dm.received``...);
* pages we polled from the API v2, stored as ``{"x_poll": "mentions" | "dm_events",
  "for_user_id", "page": <X's JSON>}``;
* ``user_event`` / ``oauth.revoke``: the account withdrew the app's access.

Threads: a post joins ``post:<conversation_id>``, a DM ``dm:<dm_conversation_id>``. The
account's own posts and DMs are never citizen messages and are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from channels_adapters.base import (
    Action,
    Attachment,
    Ignored,
    InboundAuthor,
    InboundMessage,
    MalformedPayload,
    ParseResult,
)
from channels_adapters.readers import epoch_time, iso_time, opt_dict, opt_list, opt_str, req_dict

logger = logging.getLogger(__name__)

PLATFORM = "x"
POLL_MENTIONS = "mentions"
POLL_DMS = "dm_events"
DM_EVENTS_XAA = ("dm.received", "dm.sent")
# post.mention.create does not fire for the implicit mention of a reply; post.reply.create
# (a reply to one of the account's posts) carries the same Post object.
MENTION_EVENTS_XAA = ("post.mention.create", "post.reply.create")
REVOKE_EVENTS_XAA = ("oauth.revoke",)

# (account platform id, replied-to post id) -> thread key of a stored message, if any.
ThreadLookup = Callable[[str, str], str | None]


# Account Activity keys the inbox does not keep on purpose (likes, follows, typing, reads...).
HANDLED_AA_KEYS = ("tweet_create_events", "direct_message_events", "tweet_delete_events")


def _id(value, name: str) -> str:
    # X ids are strings in v2 and in the *_str fields; a bare integer would have lost precision.
    if isinstance(value, str) and value:
        return value
    raise MalformedPayload(f"{name} must be a non-empty string id")


def _envelope(data: dict) -> dict | None:
    inner = data.get("data")
    if isinstance(inner, dict) and isinstance(inner.get("event_type"), str):
        return inner
    return None


def account_ids(data: dict) -> list[str]:
    """The platform ids of the accounts a webhook body concerns."""
    if "for_user_id" in data:
        return [_id(data["for_user_id"], "for_user_id")]
    envelope = _envelope(data)
    if envelope is not None:
        target = envelope.get("filter")
        if not isinstance(target, dict):
            raise MalformedPayload("data.filter must be an object")
        if envelope.get("event_type") in REVOKE_EVENTS_XAA and not target.get("user_id"):
            # "The filter may be empty" for oauth.revoke: the user is in the payload.
            payload = opt_dict(envelope.get("payload"), "data.payload")
            return [_id(payload.get("user_id"), "data.payload.user_id")]
        return [_id(target.get("user_id"), "data.filter.user_id")]
    revoke = (data.get("user_event") or {}).get("revoke") if isinstance(data.get("user_event"), dict) else None
    if isinstance(revoke, dict):
        return [_id((revoke.get("source") or {}).get("user_id"), "user_event.revoke.source.user_id")]
    raise MalformedPayload("neither an Account Activity nor an X Activity payload")


# --- small typed readers ---------------------------------------------------------------------


def _text(value, name: str) -> str:
    """X escapes &, < and > in the text of posts and DMs (v1.1, Account Activity and v2 alike):
    undo exactly that, once, so "&amp;lt;" stays the "&lt;" the citizen typed."""
    return opt_str(value, name).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _epoch_ms(value, name: str) -> datetime:
    return epoch_time(value, name, unit="ms")


def _v1_time(tweet: dict) -> datetime:
    if tweet.get("timestamp_ms") is not None:
        return _epoch_ms(tweet["timestamp_ms"], "timestamp_ms")
    try:
        return datetime.strptime(_id(tweet.get("created_at"), "created_at"), "%a %b %d %H:%M:%S %z %Y")
    except ValueError as exc:
        raise MalformedPayload(f"created_at is not X's date format: {tweet.get('created_at')!r}") from exc


# --- authors -----------------------------------------------------------------------------------


def _unwrap_user(user) -> dict:
    # X Activity deliveries sometimes wrap each user as {"data": {...}}.
    if isinstance(user, dict) and isinstance(user.get("data"), dict) and "id" not in user:
        return user["data"]
    return user if isinstance(user, dict) else {}


def _users(includes: dict) -> dict[str, dict]:
    users = includes.get("users") or []
    if isinstance(users, dict):  # legacy DM maps: {"<id>": {...}}
        users = list(users.values())
    found = {}
    for user in users if isinstance(users, list) else []:
        user = _unwrap_user(user)
        if isinstance(user.get("id"), str):
            found[user["id"]] = user
    return found


def _author_v2(user_id: str, users: dict[str, dict]) -> InboundAuthor:
    user = users.get(user_id) or {}
    metrics = user.get("public_metrics") if isinstance(user.get("public_metrics"), dict) else {}
    profile = {
        "location": user.get("location"),
        "followers": metrics.get("followers_count"),
        "verified": user.get("verified"),
        "verified_type": user.get("verified_type"),
        "profile_image_url": user.get("profile_image_url"),
        "description": user.get("description"),
        "protected": user.get("protected"),
    }
    return InboundAuthor(
        external_id=user_id, handle=opt_str(user.get("username") or user.get("screen_name"), "username"),
        name=opt_str(user.get("name"), "name"),
        profile={k: v for k, v in profile.items() if v not in (None, "")},
    )


def _author_v1(user: dict) -> InboundAuthor:
    profile = {
        "location": user.get("location"),
        "followers": user.get("followers_count"),
        "verified": user.get("verified"),
        "profile_image_url": user.get("profile_image_url_https"),
        "description": user.get("description"),
        "protected": user.get("protected"),
    }
    return InboundAuthor(
        external_id=_id(user.get("id_str") or user.get("id"), "user.id_str"),
        handle=opt_str(user.get("screen_name"), "user.screen_name"), name=opt_str(user.get("name"), "user.name"),
        profile={k: v for k, v in profile.items() if v not in (None, "")},
    )


# --- attachments -------------------------------------------------------------------------------

MEDIA_TYPES = {"photo": "image", "video": "video", "animated_gif": "video"}


def _media_v2(keys: list, includes: dict) -> tuple[Attachment, ...]:
    media = {m.get("media_key"): m for m in opt_list(includes.get("media"), "includes.media") if isinstance(m, dict)}
    found = []
    for key in keys:
        item = media.get(key) or {}
        found.append(Attachment(
            type=MEDIA_TYPES.get(item.get("type"), "file"),
            url=opt_str(item.get("url") or item.get("preview_image_url"), "media.url"),
            name=opt_str(item.get("alt_text"), "media.alt_text") or str(key),
        ))
    return tuple(found)


def _media_v1(items: list) -> tuple[Attachment, ...]:
    return tuple(
        Attachment(type=MEDIA_TYPES.get(m.get("type"), "file"), url=opt_str(m.get("media_url_https"), "media_url_https"))
        for m in items if isinstance(m, dict)
    )


# --- posts -------------------------------------------------------------------------------------


def _v2_post(post, account_id: str, includes: dict, users: dict[str, dict]) -> InboundMessage | Ignored:
    post = req_dict(post, "post")
    post_id = _id(post.get("id"), "post.id")
    author_id = _id(post.get("author_id"), "post.author_id")
    if author_id == account_id:
        return Ignored("x.own_post")  # the administration's own post
    references = {r.get("type"): r.get("id") for r in opt_list(post.get("referenced_tweets"), "referenced_tweets")
                  if isinstance(r, dict)}
    if "retweeted" in references:
        return Ignored("x.repost")  # a repost says nothing new
    history = [h for h in opt_list(post.get("edit_history_tweet_ids"), "edit_history_tweet_ids") if isinstance(h, str)]
    # An edited post gets a new id; it is kept as a revision of the original one.
    original = history[0] if history and history[0] != post_id else post_id
    note = opt_dict(post.get("note_tweet"), "note_tweet")
    text = _text(note.get("text"), "note_tweet.text") or _text(post.get("text"), "post.text")
    attachments = opt_dict(post.get("attachments"), "attachments")
    return InboundMessage(
        platform=PLATFORM, account_external_id=account_id, external_id=original,
        thread_key=f"post:{_id(post.get('conversation_id') or post_id, 'post.conversation_id')}",
        kind="mention", visibility="public", author=_author_v2(author_id, users), text=text,
        sent_at=iso_time(post.get("created_at"), "post.created_at"),
        attachments=_media_v2(opt_list(attachments.get("media_keys"), "media_keys"), includes),
        in_reply_to=opt_str(references.get("replied_to"), "replied_to"),
        action=Action.EDIT if original != post_id else Action.CREATE,
    )


def _v1_tweet(tweet, account_id: str, thread_of: ThreadLookup) -> InboundMessage | Ignored:
    tweet = req_dict(tweet, "tweet")
    author = _author_v1(opt_dict(tweet.get("user"), "user"))
    if author.external_id == account_id:
        return Ignored("x.own_post")
    if "retweeted_status" in tweet:
        return Ignored("x.repost")
    tweet_id = _id(tweet.get("id_str"), "id_str")
    extended = opt_dict(tweet.get("extended_tweet"), "extended_tweet")
    text = _text(extended.get("full_text") or tweet.get("full_text") or tweet.get("text"), "text")
    parent = opt_str(tweet.get("in_reply_to_status_id_str"), "in_reply_to_status_id_str")
    # Account Activity posts carry no conversation_id: a reply joins the thread of the post it
    # answers when we have that post (ours or the citizen's); otherwise the replied-to post is
    # taken as the conversation root, which it is for replies to a root post.
    thread = (thread_of(account_id, parent) if parent else None) or f"post:{parent or tweet_id}"
    media = opt_dict(tweet.get("extended_entities") or extended.get("extended_entities"), "extended_entities")
    return InboundMessage(
        platform=PLATFORM, account_external_id=account_id, external_id=tweet_id, thread_key=thread,
        kind="mention", visibility="public", author=author, text=text, sent_at=_v1_time(tweet),
        attachments=_media_v1(opt_list(media.get("media"), "extended_entities.media")), in_reply_to=parent,
    )


def _v1_delete(event, account_id: str) -> InboundMessage | Ignored:
    event = req_dict(event, "tweet_delete_event")
    status = opt_dict(event.get("status"), "tweet_delete_events.status")
    user_id = _id(status.get("user_id"), "status.user_id")
    if user_id == account_id:
        return Ignored("x.own_post_deleted")
    post_id = _id(status.get("id"), "status.id")
    return InboundMessage(
        platform=PLATFORM, account_external_id=account_id, external_id=post_id, thread_key=f"post:{post_id}",
        kind="mention", visibility="public", author=InboundAuthor(external_id=user_id), text="",
        sent_at=_epoch_ms(event.get("timestamp_ms"), "timestamp_ms"), action=Action.DELETE,
    )


# --- direct messages ---------------------------------------------------------------------------


def one_to_one_conversation_id(a: str, b: str) -> str:
    """X names a one-to-one DM conversation by both user ids, the smaller first."""
    first, second = sorted((a, b), key=lambda v: (len(v), v))
    return f"{first}-{second}"


def _v2_dm(event, account_id: str, includes: dict, users: dict[str, dict]) -> InboundMessage | Ignored:
    event = req_dict(event, "dm_event")
    if event.get("event_type", "MessageCreate") != "MessageCreate":
        return Ignored(f"x.dm.{event.get('event_type')}")  # participants joining or leaving
    sender = _id(event.get("sender_id"), "dm_event.sender_id")
    if sender == account_id:
        return Ignored("x.own_dm")
    conversation = opt_str(event.get("dm_conversation_id"), "dm_conversation_id") or one_to_one_conversation_id(
        sender, account_id
    )
    attachments = opt_dict(event.get("attachments"), "dm_event.attachments")
    return InboundMessage(
        platform=PLATFORM, account_external_id=account_id, external_id=_id(event.get("id"), "dm_event.id"),
        thread_key=f"dm:{conversation}", kind="dm", visibility="private", author=_author_v2(sender, users),
        text=_text(event.get("text"), "dm_event.text"), sent_at=iso_time(event.get("created_at"), "dm_event.created_at"),
        attachments=_media_v2(opt_list(attachments.get("media_keys"), "media_keys"), includes),
    )


def _legacy_dm(event, account_id: str, users: dict[str, dict]) -> InboundMessage | Ignored:
    event = req_dict(event, "direct_message_event")
    if event.get("type") != "message_create":
        return Ignored(f"x.dm.{event.get('type')}")
    create = opt_dict(event.get("message_create"), "message_create")
    sender = _id(create.get("sender_id"), "message_create.sender_id")
    if sender == account_id:
        return Ignored("x.own_dm")
    recipient = _id(opt_dict(create.get("target"), "target").get("recipient_id"), "target.recipient_id")
    data = opt_dict(create.get("message_data"), "message_data")
    attachment = opt_dict(data.get("attachment"), "message_data.attachment")
    media = opt_dict(attachment.get("media"), "attachment.media")
    return InboundMessage(
        platform=PLATFORM, account_external_id=account_id, external_id=_id(event.get("id"), "dm.id"),
        thread_key=f"dm:{one_to_one_conversation_id(sender, recipient)}", kind="dm", visibility="private",
        author=_author_v2(sender, users), text=_text(data.get("text"), "message_data.text"),
        sent_at=_epoch_ms(event.get("created_timestamp"), "created_timestamp"),
        attachments=_media_v1([media]) if media else (),
    )


# --- the four shapes ---------------------------------------------------------------------------


def _account_activity(data: dict, thread_of: ThreadLookup, result: ParseResult) -> None:
    account_id = _id(data["for_user_id"], "for_user_id")
    users = _users({"users": data.get("users") or {}})
    for key, read in (
        ("tweet_create_events", lambda item: _v1_tweet(item, account_id, thread_of)),
        ("direct_message_events", lambda item: _legacy_dm(item, account_id, users)),
        ("tweet_delete_events", lambda item: _v1_delete(item, account_id)),
    ):
        for i, item in enumerate(opt_list(data.get(key), key)):
            result.read(f"{key}[{i}]", item, read, item)
    result.ignored += [f"x.{key}" for key in data if key.endswith("_events") and key not in HANDLED_AA_KEYS]


def _activity_envelope(envelope: dict, result: ParseResult) -> None:
    account_id = account_ids({"data": envelope})[0]
    kind = envelope["event_type"]
    payload = opt_dict(envelope.get("payload"), "data.payload")
    includes = opt_dict(envelope.get("includes"), "data.includes")
    if kind in MENTION_EVENTS_XAA:
        result.read("data.payload", payload, _v2_post, payload, account_id, includes, _users(includes))
    elif kind in DM_EVENTS_XAA and "direct_message_events" in payload:
        users = _users({"users": payload.get("users") or {}})
        for i, event in enumerate(opt_list(payload["direct_message_events"], "direct_message_events")):
            result.read(f"data.payload.direct_message_events[{i}]", event, _legacy_dm, event, account_id, users)
    elif kind in DM_EVENTS_XAA:
        result.read("data.payload", payload, _v2_dm, payload, account_id, includes, _users(includes))
    elif kind in REVOKE_EVENTS_XAA:
        result.reconnect_account_ids.append(account_id)
    else:
        result.ignored.append(f"x.{kind}")


def _poll_page(data: dict, result: ParseResult) -> None:
    account_id = _id(data.get("for_user_id"), "for_user_id")
    page = opt_dict(data.get("page"), "page")
    includes = opt_dict(page.get("includes"), "page.includes")
    users = _users(includes)
    for error in opt_list(page.get("errors"), "page.errors"):
        # A 200 may carry partial errors (a deleted post, a suspended author): keep what came.
        logger.info("x: partial error in a %s page: %s", data.get("x_poll"), error)
    if data["x_poll"] == POLL_MENTIONS:
        reader = _v2_post
    elif data["x_poll"] == POLL_DMS:
        reader = _v2_dm
    else:
        raise MalformedPayload(f"unknown poll page kind {data['x_poll']!r}")
    for i, item in enumerate(opt_list(page.get("data"), "page.data")):
        result.read(f"page.data[{i}]", item, reader, item, account_id, includes, users)


def parse(data: dict, *, thread_of: ThreadLookup) -> ParseResult:
    """Every item of a body, read one by one; only an unknown body as a whole is malformed."""
    result = ParseResult()
    if "x_poll" in data:
        _poll_page(data, result)
    elif "for_user_id" in data:
        _account_activity(data, thread_of, result)
    elif _envelope(data) is not None:
        _activity_envelope(_envelope(data), result)
    elif isinstance(data.get("user_event"), dict):
        result.reconnect_account_ids += account_ids(data)
    else:
        raise MalformedPayload("neither an Account Activity nor an X Activity payload")
    return result
