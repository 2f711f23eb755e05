"""Telegram ``Update`` objects in, typed values out, one update at a time.

A webhook POST carries one Update; a getUpdates page (stored as a RawEvent of its own, see
``poll_page``) carries a list. Each update is read through ``ParseResult.read``: one that
cannot be read is quarantined with its reason and the others are kept.

What is kept (https://core.telegram.org/bots/api#update):

- ``message`` in a private chat with the bot: its text or caption, and its photo (the largest
  size), document, voice, audio, video, video note, sticker, location, venue or contact as
  attachments. A file is fetched through the bot only when an officer opens it (``views.file``):
  the attachment's link is a page of ours, never Telegram's file URL, which holds the token.
- ``edited_message``: a revision of the same message (``Action.EDIT``); a live location
  moving (an edit every few seconds) is not a revision and is ignored.
- ``my_chat_member`` in a private chat: "kicked" is the citizen blocking the bot (the
  conversation becomes unreachable), "member" starting it again.

Commands: a bare ``/start`` is what Telegram sends when a citizen opens the bot and presses
Start; it says nothing yet, so it opens no conversation (ignored, counted). ``/start <payload>``
(a deep link from a web page, ``t.me/<bot>?start=<payload>``) and every other command are kept
as the citizen's message: someone who types ``/help`` wants an answer.

Ignored on purpose: groups and channels (the inbox answers private chats), bots' messages,
service messages with nothing to read, and the update kinds the bot never asks for.
"""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse

from channels_adapters.base import (
    Action,
    Attachment,
    Ignored,
    InboundAuthor,
    InboundMessage,
    MalformedPayload,
    ParseResult,
    Reachability,
)
from channels_adapters.readers import epoch_time, opt_dict, opt_list, opt_str, req_dict

PLATFORM = "telegram"
POLL_MARKER = "telegram_poll"
BLOCKED_REASON = "the citizen blocked the bot"


def thread_key(chat_id: int) -> str:
    return f"dm:{chat_id}"


def message_id(chat_id: int, message_id: int) -> str:
    """Telegram numbers messages per chat: the chat makes the id unique for the bot."""
    return f"{chat_id}:{message_id}"


def chat_of(thread: str) -> int | None:
    value = thread[3:] if thread.startswith("dm:") else ""
    return int(value) if value.lstrip("-").isdigit() else None


def poll_page(bot_id: str, updates: list) -> bytes:
    """A getUpdates page as it is stored: the updates as Telegram sent them, and the bot."""
    return json.dumps({POLL_MARKER: "updates", "bot_id": bot_id, "result": updates},
                      ensure_ascii=False).encode()


def parse(body: Any, *, bot_id: str) -> ParseResult:
    """A webhook body (one Update) or a stored getUpdates page (``poll_page``)."""
    if not isinstance(body, dict):
        raise MalformedPayload("expected a JSON object")
    result = ParseResult()
    if POLL_MARKER in body:
        bot_id = opt_str(body.get("bot_id"), "bot_id") or bot_id
        for i, update in enumerate(opt_list(body.get("result"), "result")):
            result.read(f"result[{i}]", update, _update, update, bot_id)
    else:
        result.read("update", body, _update, body, bot_id)
    return result


def update_ids(body: Any) -> list[int]:
    """The ``update_id`` of each update of a getUpdates answer (the poll cursor follows them)."""
    return [u["update_id"] for u in body if isinstance(u, dict) and _is_int(u.get("update_id"))]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value, name: str) -> int:
    if not _is_int(value):
        raise MalformedPayload(f"{name} must be an integer")
    return value


def _update(update: Any, bot_id: str) -> InboundMessage | Ignored | Reachability | None:
    update = req_dict(update, "update")
    _int(update.get("update_id"), "update_id")
    if not bot_id:
        raise MalformedPayload("the update is not addressed to a known bot")
    if "message" in update:
        return _message(req_dict(update["message"], "message"), bot_id, Action.CREATE)
    if "edited_message" in update:
        return _message(req_dict(update["edited_message"], "edited_message"), bot_id, Action.EDIT)
    if "my_chat_member" in update:
        return _member(req_dict(update["my_chat_member"], "my_chat_member"), bot_id)
    kinds = sorted(k for k in update if k != "update_id")
    return Ignored(f"telegram.{kinds[0] if kinds else 'empty'}")


def _message(message: dict, bot_id: str, action: Action) -> InboundMessage | Ignored:
    chat = req_dict(message.get("chat"), "message.chat")
    if chat.get("type") != "private":
        return Ignored("telegram.group_message")
    chat_id = _int(chat.get("id"), "message.chat.id")
    number = _int(message.get("message_id"), "message.message_id")
    sender = req_dict(message.get("from"), "message.from")
    if sender.get("is_bot") is True:
        return Ignored("telegram.bot_message")
    location = opt_dict(message.get("location"), "message.location")
    if action == Action.EDIT and location.get("live_period"):
        return Ignored("telegram.live_location_update")
    text = opt_str(message.get("text"), "message.text") or opt_str(message.get("caption"), "message.caption")
    if action == Action.CREATE and _is_bare_start(text, message):
        return Ignored("telegram.command_start")
    attachments = tuple(_attachments(message, bot_id, chat_id, number))
    if not text and not attachments:
        return Ignored("telegram.service_message")
    first = opt_str(sender.get("first_name"), "message.from.first_name")
    last = opt_str(sender.get("last_name"), "message.from.last_name")
    language = opt_str(sender.get("language_code"), "message.from.language_code")
    reply_to = opt_dict(message.get("reply_to_message"), "message.reply_to_message")
    when = message.get("edit_date") if action == Action.EDIT and message.get("edit_date") else message.get("date")
    return InboundMessage(
        platform=PLATFORM, account_external_id=bot_id,
        external_id=message_id(chat_id, number), thread_key=thread_key(chat_id),
        kind="dm", visibility="private",
        author=InboundAuthor(
            external_id=str(_int(sender.get("id"), "message.from.id")),
            handle=opt_str(sender.get("username"), "message.from.username"),
            name=" ".join(p for p in (first, last) if p),
            profile={"language": language} if language else {},
        ),
        text=text, sent_at=epoch_time(when, "message.date", unit="s"), attachments=attachments,
        in_reply_to=message_id(chat_id, _int(reply_to["message_id"], "reply_to_message.message_id"))
        if reply_to else "",
        action=action,
    )


def _is_bare_start(text: str, message: dict) -> bool:
    """``/start`` (or ``/start@bot``) with nothing after it, marked as a command by Telegram."""
    words = text.split()
    if len(words) != 1 or words[0].split("@", 1)[0].lower() != "/start":
        return False
    entities = opt_list(message.get("entities"), "message.entities")
    return any(isinstance(e, dict) and e.get("type") == "bot_command" and e.get("offset") == 0 for e in entities)


def _file_url(bot_id: str, chat_id: int, number: int, unique_id: str) -> str:
    return reverse("telegram:file", args=[bot_id, chat_id, number, unique_id])


def _file(kind: str, item: dict, bot_id: str, chat_id: int, number: int, *, name: str, mime_type: str = ""
          ) -> Attachment:
    file_id = opt_str(item.get("file_id"), f"message.{kind}.file_id")
    unique_id = opt_str(item.get("file_unique_id"), f"message.{kind}.file_unique_id")
    if not file_id or not unique_id or not unique_id.replace("-", "").replace("_", "").isalnum():
        raise MalformedPayload(f"message.{kind} has no usable file_id / file_unique_id")
    return Attachment(
        type={"photo": "image", "sticker": "image", "voice": "audio", "audio": "audio", "video": "video",
              "video_note": "video", "animation": "video"}.get(kind, "file"),
        url=_file_url(bot_id, chat_id, number, unique_id), name=name[:200],
        mime_type=opt_str(item.get("mime_type"), f"message.{kind}.mime_type") or mime_type, ref=file_id,
    )


def _duration(item: dict) -> str:
    seconds = item.get("duration")
    return f" ({seconds // 60}:{seconds % 60:02d})" if _is_int(seconds) else ""


def _attachments(message: dict, bot_id: str, chat_id: int, number: int):
    file = (bot_id, chat_id, number)
    photos = [p for p in opt_list(message.get("photo"), "message.photo") if isinstance(p, dict)]
    if photos:  # Telegram lists the sizes smallest first: the last is the original
        yield _file("photo", photos[-1], *file, name="Photo", mime_type="image/jpeg")
    if (document := opt_dict(message.get("document"), "message.document")):
        yield _file("document", document, *file,
                    name=opt_str(document.get("file_name"), "message.document.file_name") or "Document")
    if (voice := opt_dict(message.get("voice"), "message.voice")):
        yield _file("voice", voice, *file, name="Voice message" + _duration(voice), mime_type="audio/ogg")
    if (audio := opt_dict(message.get("audio"), "message.audio")):
        yield _file("audio", audio, *file, name=opt_str(audio.get("title"), "message.audio.title")
                    or opt_str(audio.get("file_name"), "message.audio.file_name") or "Audio" + _duration(audio))
    for kind, label in (("video", "Video"), ("video_note", "Video message"), ("animation", "Animation")):
        if (video := opt_dict(message.get(kind), f"message.{kind}")):
            yield _file(kind, video, *file, name=label + _duration(video), mime_type="video/mp4")
            break  # an animation also arrives as a document: one attachment is enough
    if (sticker := opt_dict(message.get("sticker"), "message.sticker")):
        yield _file("sticker", sticker, *file, name=f"Sticker {opt_str(sticker.get('emoji'), 'emoji')}".strip(),
                    mime_type="image/webp")
    location = opt_dict(message.get("location"), "message.location")
    venue = opt_dict(message.get("venue"), "message.venue")
    if location:
        latitude, longitude = location.get("latitude"), location.get("longitude")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (latitude, longitude)) \
                or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise MalformedPayload("message.location needs a latitude and a longitude")
        place = " — ".join(p for p in (opt_str(venue.get("title"), "venue.title"),
                                        opt_str(venue.get("address"), "venue.address")) if p)
        yield Attachment(
            type="location", name=place or f"{latitude:.5f}, {longitude:.5f}",
            url=f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}#map=17/"
                f"{latitude:.6f}/{longitude:.6f}",
        )
    if (contact := opt_dict(message.get("contact"), "message.contact")):
        name = " ".join(p for p in (opt_str(contact.get("first_name"), "contact.first_name"),
                                    opt_str(contact.get("last_name"), "contact.last_name")) if p)
        phone = opt_str(contact.get("phone_number"), "contact.phone_number")
        yield Attachment(type="contact", name=" · ".join(p for p in (name, phone) if p) or "Contact")


def _member(update: dict, bot_id: str) -> Reachability | Ignored:
    chat = req_dict(update.get("chat"), "my_chat_member.chat")
    if chat.get("type") != "private":
        return Ignored("telegram.group_membership")
    chat_id = _int(chat.get("id"), "my_chat_member.chat.id")
    new = req_dict(update.get("new_chat_member"), "my_chat_member.new_chat_member")
    status = opt_str(new.get("status"), "new_chat_member.status")
    when = epoch_time(update.get("date"), "my_chat_member.date", unit="s")
    if status == "kicked":
        return Reachability(bot_id, thread_key(chat_id), reachable=False, reason=BLOCKED_REASON, at=when)
    if status == "member":
        return Reachability(bot_id, thread_key(chat_id), reachable=True, at=when)
    return Ignored(f"telegram.my_chat_member.{status or 'unknown'}")
