"""Meta webhook bodies -> ``InboundMessage`` values, validated as they are read.

One body holds many entries (one per Page or Instagram account) and each entry many
changes (feed, comments, mentions) or messaging events. Everything the inbox does not keep
(likes, reactions, reads, deliveries, the Page's own comments and message echoes) is dropped
here, so nothing deeper ever sees a raw payload.

Polling builds bodies of the same shape from Graph API lists (see ``backfill.py``), so a
missed webhook and its backfilled copy are parsed by the same code into the same ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from channels_adapters.readers import epoch_time, json_object, opt_dict, opt_list, opt_str, req_dict

OBJECTS = ("page", "instagram")
FB, IG = "fb", "ig"
PLATFORM = {"page": "facebook", "instagram": "instagram"}
NETWORK = {"facebook": FB, "instagram": IG}

FEED_VERBS = {
    "add": Action.CREATE, "edited": Action.EDIT, "edit": Action.EDIT, "remove": Action.DELETE,
    "delete": Action.DELETE, "hide": Action.HIDE, "unhide": Action.UNHIDE,
}
ATTACHMENT_TYPES = {"image": "image", "video": "video", "audio": "audio", "file": "file"}

# Messaging event kinds the inbox does not keep on purpose (the first key found names it).
IGNORED_MESSAGING = ("read", "delivery", "reaction", "postback", "optin", "referral", "account_linking",
                     "policy-enforcement", "pass_thread_control", "take_thread_control",
                     "request_thread_control", "app_roles", "game_play", "message_reactions")


@dataclass(frozen=True)
class Thread:
    """What a conversation's thread key says: where an answer has to go.

    ``fb:comment:<post>:<top comment>``, ``ig:comment:<media>:<top comment>``,
    ``ig:mention:<media>:<comment>`` (``<media>:<media>`` for a mention in a post's caption),
    ``fb:dm:<PSID>``, ``ig:dm:<IGSID>``.
    """

    network: str
    kind: str  # comment, mention, dm
    media: str = ""  # post or media id
    comment: str = ""  # the top-level comment (comments) or the mentioning comment
    user: str = ""  # the citizen's page- or Instagram-scoped id (dm)

    @property
    def key(self) -> str:
        if self.kind == "dm":
            return f"{self.network}:dm:{self.user}"
        return f"{self.network}:{self.kind}:{self.media}:{self.comment}"

    @property
    def instagram(self) -> bool:
        return self.network == IG

    @classmethod
    def parse(cls, key: str) -> Thread:
        parts = key.split(":")
        if len(parts) == 3 and parts[0] in (FB, IG) and parts[1] == "dm" and parts[2]:
            return cls(parts[0], "dm", user=parts[2])
        if len(parts) == 4 and parts[0] in (FB, IG) and parts[1] in ("comment", "mention") and all(parts[2:]):
            return cls(parts[0], parts[1], media=parts[2], comment=parts[3])
        raise ValueError(f"not a Meta thread key: {key!r}")


# --- field readers -----------------------------------------------------------------------


def _id(value, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise MalformedPayload(f"{name} must be an id")
    return str(value)


def when(value, name: str = "time") -> datetime:
    """Meta times come as epoch seconds (feed), epoch milliseconds (messaging), either of them
    as a numeric string (the dashboard's test deliveries, some older payloads) or ISO 8601."""
    if not isinstance(value, str) or value.replace(".", "", 1).isdigit():
        return epoch_time(value, name)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise MalformedPayload(f"{name} is not a time: {value!r}")


# --- the parser ----------------------------------------------------------------------------

MentionLookup = Callable[[str, str, str], dict | None]  # (ig account, media, comment) -> comment


@dataclass
class _Entry:
    platform: str
    account: str  # the Page or Instagram account id the entry is for
    time: datetime | None

    @property
    def network(self) -> str:
        return NETWORK[self.platform]


def load(body: bytes) -> dict:
    """The outer shape every Meta webhook body shares: ``{"object": ..., "entry": [...]}``."""
    data = json_object(body)
    if data.get("object") not in OBJECTS:
        raise MalformedPayload(f"unsupported object {data.get('object')!r}")
    if not isinstance(data.get("entry"), list):
        raise MalformedPayload("expected an entry list")
    return data


def account_ids(body: bytes) -> list[str]:
    """The ids of the entries that name one; an entry without is quarantined when parsed,
    it does not make its neighbours' delivery fail."""
    return list(dict.fromkeys(
        str(entry["id"]) for entry in load(body)["entry"]
        if isinstance(entry, dict) and isinstance(entry.get("id"), str | int) and not isinstance(entry.get("id"), bool)
    ))


def is_test_delivery(data: dict) -> bool:
    """The app dashboard's "Test" button sends sample bodies for entry id "0"."""
    entries = data.get("entry")
    return isinstance(entries, list) and bool(entries) and all(
        isinstance(e, dict) and str(e.get("id")) == "0" for e in entries
    )


def parse_body(data: dict, *, mention_lookup: MentionLookup | None = None) -> ParseResult:
    """Every change and messaging event of every entry, each read on its own."""
    platform = PLATFORM.get(data.get("object"))
    if platform is None:
        raise MalformedPayload(f"object must be page or instagram, not {data.get('object')!r}")
    result = ParseResult()
    for i, raw_entry in enumerate(opt_list(data.get("entry"), "entry")):
        try:
            raw_entry = req_dict(raw_entry, "entry")
            entry = _Entry(
                platform, _id(raw_entry.get("id"), "entry.id"),
                when(raw_entry["time"], "entry.time") if raw_entry.get("time") is not None else None,
            )
            changes = opt_list(raw_entry.get("changes"), "entry.changes")
            messaging = opt_list(raw_entry.get("messaging"), "entry.messaging")
        except (MalformedPayload, TypeError, ValueError) as exc:
            result.quarantine(f"entry[{i}]", raw_entry, exc)
            continue
        for j, change in enumerate(changes):
            result.read(f"entry[{i}].changes[{j}]", change, _change, entry, change, mention_lookup)
        for j, event in enumerate(messaging):
            result.read(f"entry[{i}].messaging[{j}]", event, _messaging, entry, event)
        # While another app of the Page holds a conversation (Meta's own inbox, a chatbot:
        # the handover protocol), the citizen's messages arrive as "standby": still theirs,
        # still a record.
        for j, event in enumerate(opt_list(raw_entry.get("standby"), "entry.standby")):
            result.read(f"entry[{i}].standby[{j}]", event, _messaging, entry, event)
    return result


def _change(entry: _Entry, change, lookup: MentionLookup | None) -> InboundMessage | Ignored:
    change = req_dict(change, "change")
    field = change.get("field")
    readers = {
        ("facebook", "feed"): lambda value: (
            _feed_comment(entry, value) if value.get("item") == "comment"
            else Ignored(f"feed.{value.get('item')}")  # posts, reactions, likes, shares
        ),
        ("facebook", "mention"): lambda value: _page_mention(entry, value),
        ("instagram", "comments"): lambda value: _ig_comment(entry, value),
        ("instagram", "live_comments"): lambda value: _ig_comment(entry, value),
        ("instagram", "mentions"): lambda value: _ig_mention(entry, value, lookup),
    }
    reader = readers.get((entry.platform, field))
    if reader is None:
        # Page fields we never subscribed to arrive too, some without a value ("parking").
        return Ignored(f"{entry.platform}.{field}")
    return reader(req_dict(change.get("value"), "change.value"))


def _author(raw: dict, *, handle_key: str, anonymous: str) -> InboundAuthor:
    """The commenter, as far as Meta tells. Without ``from`` (the app lacks access to the
    user's data), older deliveries name a ``sender_id``; with no identity at all the comment
    gets an author of its own (``anonymous`` is unique per comment): two strangers are never
    merged into one contact, whose history would then show another person's messages."""
    if not raw:
        return InboundAuthor(external_id=f"anonymous:{anonymous}")
    handle = opt_str(raw.get(handle_key), f"from.{handle_key}") if handle_key else ""
    return InboundAuthor(
        external_id=_id(raw.get("id"), "from.id"), handle=handle,
        name=opt_str(raw.get("name"), "from.name"),
    )


def _feed_comment(entry: _Entry, value: dict) -> InboundMessage | Ignored:
    action = FEED_VERBS.get(value.get("verb"))
    if action is None:
        return Ignored(f"feed.comment.{value.get('verb')}")  # block, mute...: nothing a citizen said
    author_raw = opt_dict(value.get("from"), "from")
    if not author_raw and value.get("sender_id") is not None:
        author_raw = {"id": value["sender_id"], "name": value.get("sender_name")}
    if author_raw and str(author_raw.get("id")) == entry.account:
        return Ignored("feed.own_comment")  # the Page's own comments (our replies)
    comment_id = _id(value.get("comment_id"), "comment_id")
    post_id = _id(value.get("post_id"), "post_id")
    parent_id = str(value.get("parent_id") or post_id)
    top = comment_id if parent_id == post_id else parent_id
    if action == Action.CREATE and value.get("created_time") is not None:
        sent_at = when(value["created_time"], "created_time")
    elif entry.time is not None:
        sent_at = entry.time  # an edit or removal happens when Meta reports it
    else:
        sent_at = when(value.get("created_time"), "created_time")
    attachments = []
    for kind, key in (("image", "photo"), ("video", "video")):
        url = value.get(key)
        if isinstance(url, str) and url:
            attachments.append(Attachment(type=kind, url=url))
    return InboundMessage(
        platform=entry.platform, account_external_id=entry.account, external_id=comment_id,
        thread_key=Thread(FB, "comment", media=post_id, comment=top).key,
        kind="comment", visibility="public", author=_author(author_raw, handle_key="", anonymous=comment_id),
        text=opt_str(value.get("message"), "message"), sent_at=sent_at,
        attachments=tuple(attachments), in_reply_to="" if parent_id == post_id else parent_id,
        action=action,
    )


def _page_mention(entry: _Entry, value: dict) -> InboundMessage | Ignored:
    """A citizen names the Page in a post or comment of their own: answered with a comment
    there (thread ``fb:comment:<post>:<comment or post>``)."""
    if value.get("verb") not in (None, "add"):
        return Ignored(f"mention.{value.get('verb')}")
    post_id = _id(value.get("post_id"), "post_id")
    comment_id = _id(value["comment_id"], "comment_id") if value.get("comment_id") else ""
    author_raw = {"id": value["sender_id"], "name": value.get("sender_name")} if value.get("sender_id") else {}
    return InboundMessage(
        platform=entry.platform, account_external_id=entry.account, external_id=comment_id or post_id,
        thread_key=Thread(FB, "comment", media=post_id, comment=comment_id or post_id).key,
        kind="mention", visibility="public",
        author=_author(author_raw, handle_key="", anonymous=comment_id or post_id),
        text=opt_str(value.get("message"), "message"),
        sent_at=when(value["created_time"], "created_time") if value.get("created_time") is not None
        else entry.time or when(None, "created_time"),
    )


def _ig_comment(entry: _Entry, value: dict) -> InboundMessage | Ignored:
    author_raw = opt_dict(value.get("from"), "from")
    if author_raw and str(author_raw.get("id")) == entry.account:
        return Ignored("instagram.own_comment")  # the account's own replies
    comment_id = _id(value.get("id"), "id")
    media = req_dict(value.get("media"), "media")
    media_id = _id(media.get("id"), "media.id")
    parent_id = str(value.get("parent_id") or "")
    stamp = value.get("timestamp")  # only in backfilled bodies; webhooks carry entry.time
    sent_at = when(stamp, "timestamp") if stamp is not None else entry.time
    if sent_at is None:
        raise MalformedPayload("a comment needs entry.time")
    return InboundMessage(
        platform=entry.platform, account_external_id=entry.account, external_id=comment_id,
        thread_key=Thread(IG, "comment", media=media_id, comment=parent_id or comment_id).key,
        kind="comment", visibility="public",
        author=_author(author_raw, handle_key="username", anonymous=comment_id),
        text=opt_str(value.get("text"), "text"), sent_at=sent_at, in_reply_to=parent_id,
    )


def _ig_mention(entry: _Entry, value: dict, lookup: MentionLookup | None) -> InboundMessage:
    media_id = _id(value.get("media_id"), "media_id")
    # A mention in a comment names the comment; a mention in a post's caption has none, and
    # the post itself is the thread (thread key ig:mention:<media>:<media>).
    comment_id = _id(value["comment_id"], "comment_id") if value.get("comment_id") else ""
    # The webhook only names the comment or post; text and author are fetched (or were, by backfill).
    found = value if "text" in value else (lookup(entry.account, media_id, comment_id) if lookup else None)
    found = found or {}
    if not comment_id and "caption" in found:
        found = {**found, "text": found.get("caption")}
    author_raw = opt_dict(found.get("from"), "from")
    if not author_raw and found.get("username"):
        author_raw = {"id": f"ig-user:{found['username']}", "username": found["username"]}
    text = opt_str(found.get("text"), "text") if found else ""
    if not found:
        where = "a comment" if comment_id else "a post's caption"
        text = f"(Mentioned the account in {where}; the text could not be fetched from Instagram.)"
    stamp = found.get("timestamp")
    sent_at = when(stamp, "timestamp") if stamp is not None else entry.time
    if sent_at is None:
        raise MalformedPayload("a mention needs entry.time")
    return InboundMessage(
        platform=entry.platform, account_external_id=entry.account, external_id=comment_id or f"media:{media_id}",
        thread_key=Thread(IG, "mention", media=media_id, comment=comment_id or media_id).key,
        kind="mention", visibility="public",
        author=_author(author_raw, handle_key="username", anonymous=comment_id or f"media:{media_id}"),
        text=text, sent_at=sent_at,
    )


def _attachments(raw) -> tuple[Attachment, ...]:
    found = []
    for item in raw or []:
        if not isinstance(item, dict):
            raise MalformedPayload("each attachment must be an object")
        payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
        url = payload.get("url") if isinstance(payload.get("url"), str) else ""
        found.append(Attachment(type=ATTACHMENT_TYPES.get(item.get("type"), "link"), url=url,
                                name=opt_str(item.get("title"), "attachment.title")))
    return tuple(found)


def _messaging(entry: _Entry, event) -> InboundMessage | Ignored:
    event = req_dict(event, "messaging event")
    if "message" not in event and "message_edit" not in event:
        # Reads, deliveries, reactions, postbacks, opt-ins (which have no sender at all)...
        kind = next((k for k in IGNORED_MESSAGING if k in event), "other")
        return Ignored(f"messaging.{kind}")
    sender = _id(req_dict(event.get("sender"), "sender").get("id"), "sender.id")
    if sender == entry.account:
        return Ignored("messaging.echo")  # what the Page or account sent
    at = when(event.get("timestamp"), "timestamp") if event.get("timestamp") is not None else entry.time
    if at is None:
        raise MalformedPayload("a messaging event needs a timestamp")
    thread = Thread(entry.network, "dm", user=sender).key
    author = InboundAuthor(external_id=sender)
    if "message" in event:
        message = req_dict(event["message"], "message")
        if message.get("is_echo"):
            return Ignored("messaging.echo")
        reply_to = opt_dict(message.get("reply_to"), "reply_to")
        deleted = message.get("is_deleted") is True
        return InboundMessage(
            platform=entry.platform, account_external_id=entry.account,
            external_id=_id(message.get("mid"), "message.mid"), thread_key=thread, kind="dm",
            visibility="private", author=author, text=opt_str(message.get("text"), "message.text"),
            sent_at=at, attachments=() if deleted else _attachments(message.get("attachments")),
            in_reply_to=str(reply_to.get("mid") or ""),
            action=Action.DELETE if deleted else Action.CREATE,
        )
    if "message_edit" in event:
        edit = req_dict(event["message_edit"], "message_edit")
        return InboundMessage(
            platform=entry.platform, account_external_id=entry.account,
            external_id=_id(edit.get("mid"), "message_edit.mid"), thread_key=thread, kind="dm",
            visibility="private", author=author, text=opt_str(edit.get("text"), "message_edit.text"),
            sent_at=at, action=Action.EDIT,
        )
