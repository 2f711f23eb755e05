"""The X channel: mentions and DMs in (webhooks and polling), public replies and DMs out.

Polling fetches two endpoints per account, each with its own cursor and schedule in
``ChannelAccount.cursors``: ``mentions`` (``since_id`` plus a pagination token while a
backlog is being read) and ``dm_events`` (the newest DM event id seen). Each endpoint is
polled no faster than its rate-limit headers allow (DM events: 15 requests per 15 minutes
per user) and waits for ``x-rate-limit-reset`` after a 429.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext

from channels_adapters.base import (
    Adapter,
    AdapterError,
    DeliveryResult,
    ParseResult,
    PollResult,
    ReplyOption,
    ReplyRefused,
    SimulatedAccount,
)
from channels_adapters.confirmation import (
    MAX_SEARCH_PAGES,
    Confirmation,
    DeliveryWindow,
    comparable_text,
    other_reply_ids,
)
from channels_adapters.readers import json_object
from channels_adapters.x import payloads, simulate, text, webhook
from channels_adapters.x.client import Page, XApi
from channels_adapters.x.connect import x_credentials_fresh
from inbox.models import ChannelAccount, Conversation, Message, RawEvent

logger = logging.getLogger(__name__)

MENTION_PAGES_PER_POLL = 5  # up to 500 mentions; a longer backlog continues at the next poll
DM_PAGES_PER_POLL = 2  # DM events allow 15 requests per 15 minutes: spend them sparingly
ERROR_BACKOFF = timedelta(minutes=5)
FORBIDDEN_BACKOFF = timedelta(hours=1)


def _dt(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _newer(a: str | None, b: str | None) -> str | None:
    """The larger of two X ids (snowflakes grow with time; compare as numbers)."""
    if not a or not b:
        return a or b
    return max(a, b, key=lambda v: (len(v), v))


class XAdapter(Adapter):
    platform = "x"
    label = "X"
    webhook_slug = "x"
    supports_polling = True
    connect_url_name = "x:accounts"
    kept_headers = ("Content-Type", "User-Agent", webhook.SIGNATURE_HEADER)

    # --- webhooks ---
    def handshake(self, request: HttpRequest) -> HttpResponse:
        return webhook.handshake(request)

    def verify(self, request: HttpRequest) -> None:
        webhook.verify(request)

    def webhook_account_ids(self, request: HttpRequest) -> list[str]:
        return payloads.account_ids(json_object(request.body))

    def parse(self, raw: RawEvent) -> ParseResult:
        return payloads.parse(json_object(bytes(raw.body)), thread_of=self._thread_of)

    @staticmethod
    def _thread_of(account_external_id: str, post_id: str) -> str | None:
        return (
            Message.objects.filter(
                account__platform="x", account__external_id=account_external_id, external_id=post_id
            ).values_list("conversation__thread_key", flat=True).first()
        )

    # --- polling ---
    def poll(self, account: ChannelAccount) -> PollResult:
        now = timezone.now()
        api = XApi(x_credentials_fresh(account))
        cursors = account.cursors or {}
        pages_read: dict[str, list[bytes]] = {}
        new_cursors: dict[str, dict] = {}
        errors: list[AdapterError] = []
        fetchers = ((payloads.POLL_MENTIONS, self._poll_mentions), (payloads.POLL_DMS, self._poll_dms))
        for name, fetch in fetchers:
            cursor = dict(cursors.get(name) or {})
            due = _dt(cursor.get("next_at"))
            if due is not None and due > now:
                continue
            try:
                pages, cursor = fetch(api, account, cursor)
            except AdapterError as exc:
                if exc.needs_reconnect:
                    raise
                backoff = FORBIDDEN_BACKOFF if exc.code == "403" else ERROR_BACKOFF
                cursor["next_at"] = (exc.retry_at or now + backoff).isoformat()
                cursor["error"] = str(exc)[:500]
                errors.append(exc)
                logger.warning("x poll %s %s: %s", account.external_id, name, exc)
            else:
                # An empty page carries nothing worth a RawEvent row every minute.
                pages_read[name] = [self._poll_payload(name, account, p) for p in pages if p.body.get("data")]
                cursor.pop("error", None)
                cursor["next_at"] = self._next_at(pages[-1], now, name).isoformat()
            new_cursors[name] = cursor
        if errors and len(errors) == len(new_cursors):
            # Every endpoint failed: say so on the account (and keep the per-endpoint schedule).
            first = min((_dt(c.get("next_at")) for c in new_cursors.values()), default=None)
            raise AdapterError("; ".join(str(e) for e in errors), retry_at=first, code=errors[0].code)
        schedule = [_dt(c.get("next_at")) for c in {**cursors, **new_cursors}.values() if isinstance(c, dict)]
        next_poll_at = min((d for d in schedule if d is not None), default=None)
        return PollResult(pages=pages_read, cursors=new_cursors, next_poll_at=next_poll_at)

    @staticmethod
    def _poll_payload(kind: str, account: ChannelAccount, page: Page) -> bytes:
        return json.dumps({"x_poll": kind, "for_user_id": account.external_id, "page": page.body}).encode()

    @staticmethod
    def _next_at(page: Page, now: datetime, name: str) -> datetime:
        minimum = now + timedelta(seconds=settings.X_POLL_MIN_INTERVAL_SECONDS)
        rate = page.rate
        if rate is None:
            # No headers: assume the tightest documented limit for DMs (15 per 15 minutes).
            return max(minimum, now + timedelta(seconds=60)) if name == payloads.POLL_DMS else minimum
        if rate.remaining <= 0:
            return max(minimum, rate.reset_at)
        # Spread what is left of the window evenly: never run dry before the reset.
        spacing = (rate.reset_at - now) / rate.remaining
        return max(minimum, now + spacing)

    @staticmethod
    def _poll_mentions(api: XApi, account: ChannelAccount, cursor: dict) -> tuple[list[Page], dict]:
        since_id = cursor.get("since_id")
        token = cursor.get("next_token")
        newest = cursor.get("pending_newest_id")
        pages: list[Page] = []
        for _ in range(MENTION_PAGES_PER_POLL):
            page = api.mentions(account.external_id, since_id=since_id, pagination_token=token)
            pages.append(page)
            meta = page.body.get("meta") if isinstance(page.body.get("meta"), dict) else {}
            newest = _newer(newest, meta.get("newest_id"))
            token = meta.get("next_token")
            if not since_id or not token:
                break  # first poll: the latest page is enough; otherwise the backlog is read
        if since_id and token:
            # Backlog not finished: keep since_id until every page since it is stored.
            return pages, {"since_id": since_id, "next_token": token, "pending_newest_id": newest}
        return pages, {"since_id": _newer(since_id, newest)} if (since_id or newest) else {}

    @staticmethod
    def _poll_dms(api: XApi, account: ChannelAccount, cursor: dict) -> tuple[list[Page], dict]:
        """DM events come newest first and have no since_id: read back to the newest one
        already stored. A backlog longer than one poll's pages is resumed from its token at
        the next poll, and the cursor moves only once the backlog is read."""
        seen = cursor.get("newest_id")
        token = cursor.get("next_token")
        newest = cursor.get("pending_newest_id") or seen
        pages: list[Page] = []
        reached_seen = False
        for _ in range(DM_PAGES_PER_POLL):
            page = api.dm_events(pagination_token=token)
            pages.append(page)
            events = page.body.get("data") if isinstance(page.body.get("data"), list) else []
            ids = [e["id"] for e in events if isinstance(e, dict) and isinstance(e.get("id"), str)]
            for event_id in ids:
                newest = _newer(newest, event_id)
            token = (page.body.get("meta") or {}).get("next_token")
            reached_seen = bool(seen) and any(_newer(i, seen) == seen for i in ids)
            if not seen or not token or reached_seen:
                break
        if seen and token and not reached_seen:
            return pages, {"newest_id": seen, "next_token": token, "pending_newest_id": newest}
        return pages, ({"newest_id": newest} if newest else {})

    # --- outbound ---
    def reply_options(self, conversation: Conversation, *, now: datetime) -> list[ReplyOption]:
        options = []
        if conversation.kind == Conversation.Kind.PUBLIC:
            options.append(ReplyOption(
                "public", gettext("Public reply"), Message.Kind.REPLY, Message.Visibility.PUBLIC,
                max_length=text.POST_MAX_WEIGHTED_LENGTH, counting="x",
            ))
        options.append(ReplyOption(
            "private", gettext("Direct message"), Message.Kind.DM, Message.Visibility.PRIVATE, max_length=text.DM_MAX_LENGTH,
        ))
        return options

    def allows_automatic_reply(self, conversation: Conversation) -> bool:
        """X's automation rules allow automated replies only to users who addressed the
        account: a direct message, a post that mentions it, or a reply to the account's own
        post. Someone whose reply in another thread carries the account's handle only among
        the @handles X puts in front of every reply did not address it."""
        first = (
            conversation.messages.filter(direction=Message.Direction.INBOUND)
            .order_by("sent_at", "id").only("kind", "text", "in_reply_to").first()
        )
        if first is None or first.kind not in (Message.Kind.MENTION, Message.Kind.DM):
            return False
        if first.kind == Message.Kind.DM or not first.in_reply_to:
            return True
        if conversation.messages.filter(direction=Message.Direction.OUTBOUND, external_id=first.in_reply_to).exists():
            return True
        handle = conversation.account.handle.lstrip("@")
        body = _LEADING_HANDLES.sub("", first.text or "")
        return bool(handle) and re.search(rf"(?<!\w)@{re.escape(handle)}(?!\w)", body, re.IGNORECASE) is not None

    def validate_reply(self, conversation: Conversation, option: ReplyOption, body: str) -> None:
        if not body.strip():
            raise ReplyRefused(gettext("The reply is empty."))
        if option.visibility == Message.Visibility.PUBLIC:
            count = text.post_count(body)
            if count.weighted_length > text.POST_MAX_WEIGHTED_LENGTH:
                raise ReplyRefused(
                    gettext("X counts this reply as %(count)s characters (a link counts as 23, "
                      "an emoji or a Chinese, Japanese or Korean character as 2); the limit is "
                      "%(limit)s.") % {"count": count.weighted_length, "limit": text.POST_MAX_WEIGHTED_LENGTH}
                )
            if not count.valid:
                raise ReplyRefused(gettext("X would refuse this reply: it contains characters X does not accept."))
            if not self._reply_target(conversation, None):
                raise ReplyRefused(gettext("There is no citizen post in this conversation to reply to."))
        elif len(body) > text.DM_MAX_LENGTH:
            raise ReplyRefused(gettext("The message is %(count)s characters long; X allows %(limit)s.")
                               % {"count": len(body), "limit": text.DM_MAX_LENGTH})

    @staticmethod
    def _reply_target(conversation: Conversation, message: Message | None) -> str:
        if message is not None and message.in_reply_to:
            return message.in_reply_to
        return (
            conversation.messages.filter(direction=Message.Direction.INBOUND, deleted_at__isnull=True)
            .order_by("-sent_at", "-id").values_list("external_id", flat=True).first()
        ) or ""

    @staticmethod
    def _dm_target(conversation: Conversation) -> dict:
        if conversation.thread_key.startswith("dm:"):
            dm_conversation_id = conversation.thread_key[3:]
            if dm_conversation_id.count("-") != 1:
                return {"dm_conversation_id": dm_conversation_id}  # a group conversation
        return {"participant_id": conversation.contact.external_id}

    def send(self, account: ChannelAccount, conversation: Conversation, message: Message) -> DeliveryResult:
        api = XApi(x_credentials_fresh(account))
        if message.visibility == Message.Visibility.PUBLIC:
            target = self._reply_target(conversation, message)
            if not target:
                raise AdapterError("There is no citizen post in this conversation to reply to.", permanent=True)
            data = api.reply(message.text, target)
            external_id = data.get("id")
        else:
            data = api.direct_message(message.text, **self._dm_target(conversation))
            external_id = data.get("dm_event_id")
        if not isinstance(external_id, str) or not external_id:
            raise AdapterError("X accepted the reply but did not give its id", uncertain=True)
        return DeliveryResult(external_id=external_id, sent_at=timezone.now())

    def confirm_delivery(
        self, account: ChannelAccount, conversation: Conversation, message: Message, window: DeliveryWindow
    ) -> Confirmation:
        """Search X for a reply whose send ended in doubt, over the attempts' time window.

        A public reply is looked for among the account's own posts in the window
        (``GET /2/users/:id/tweets`` with ``start_time``/``end_time``, 100 a page, following
        ``meta.next_token``): X filters by time, so reaching the last page means the whole
        window was read, however busy the account. A DM is looked for among the
        conversation's events, which X returns newest first and cannot filter by time: they
        are read back to one older than the window (or to the conversation's first event).

        A post is the reply when it answers the same post (``referenced_tweets`` replied_to)
        with the same words, compared as X gives them back: links wrapped in t.co, the
        leading @handles X adds to a reply, ``&amp;`` for ``&``. Since "absent" may lead to
        sending again, a post of ours in the window that answers the same post (or a DM of
        ours in the conversation) with other words, and that no other reply of ours accounts
        for, makes the answer "unknown" rather than "absent".
        """
        api = XApi(x_credentials_fresh(account))
        taken = other_reply_ids(conversation, message)
        wanted = _comparable(message.text)
        if message.visibility == Message.Visibility.PUBLIC:
            target = self._reply_target(conversation, message)
            if not target:
                return Confirmation.unknown("There is no post in the conversation that the reply answered.")
            return self._find_reply_post(api, account, target, wanted, taken, window)
        target = self._dm_target(conversation)
        dm_conversation_id = target.get("dm_conversation_id") or payloads.one_to_one_conversation_id(
            account.external_id, target["participant_id"])
        return self._find_dm(api, account, dm_conversation_id, wanted, taken, window)

    @staticmethod
    def _find_reply_post(api: XApi, account: ChannelAccount, target: str, wanted: str, taken: set[str],
                         window: DeliveryWindow) -> Confirmation:
        token, read, other = None, 0, ""
        for _ in range(MAX_SEARCH_PAGES):
            page = api.user_posts(account.external_id, start_time=window.start, end_time=window.end,
                                  pagination_token=token)
            posts = page.body.get("data") if isinstance(page.body.get("data"), list) else []
            read += len(posts)
            for post in posts:
                if not isinstance(post, dict) or not isinstance(post.get("id"), str) or post["id"] in taken:
                    continue
                replied = {r.get("id") for r in post.get("referenced_tweets") or []
                           if isinstance(r, dict) and r.get("type") == "replied_to"}
                if target not in replied:
                    continue
                if _comparable(post.get("text"), from_x=True) == wanted:
                    return Confirmation.delivered(post["id"], _dt(post.get("created_at")),
                                                  f"found on X among {read} posts from {window}")
                other = other or post["id"]
            meta = page.body.get("meta") if isinstance(page.body.get("meta"), dict) else {}
            token = meta.get("next_token")
            if not token:
                break
        else:
            return Confirmation.unknown(f"X has more than {read} posts of the account from {window}; "
                                        "not all of them could be read.")
        if other:
            return Confirmation.unknown(f"X has another reply of the account to the same post ({other}) from "
                                        f"{window}, with other words.")
        return Confirmation.absent(f"all {read} posts of the account on X from {window} were read; "
                                   "the reply is not among them")

    @staticmethod
    def _find_dm(api: XApi, account: ChannelAccount, dm_conversation_id: str, wanted: str, taken: set[str],
                 window: DeliveryWindow) -> Confirmation:
        token, read, other = None, 0, ""
        for _ in range(MAX_SEARCH_PAGES):
            page = api.dm_events(dm_conversation_id=dm_conversation_id, pagination_token=token)
            events = page.body.get("data") if isinstance(page.body.get("data"), list) else []
            reached_start = False
            for event in events:
                if not isinstance(event, dict) or not isinstance(event.get("id"), str):
                    continue
                created = _dt(event.get("created_at"))
                if created is None:
                    other = other or event["id"]  # cannot be placed in time: cannot be ruled out
                    continue
                if created < window.start:
                    reached_start = True
                    continue
                if not window.contains(created):
                    continue
                read += 1
                if event.get("sender_id") != account.external_id or event["id"] in taken:
                    continue
                if _comparable(event.get("text"), from_x=True) == wanted:
                    return Confirmation.delivered(event["id"], created, f"found on X among {read} DM events")
                other = other or event["id"]
            meta = page.body.get("meta") if isinstance(page.body.get("meta"), dict) else {}
            token = meta.get("next_token")
            if reached_start or not token:
                break
        else:
            return Confirmation.unknown(f"The DM conversation on X has more than {read} events from {window}; "
                                        "not all of them could be read.")
        if other:
            return Confirmation.unknown(f"X has another DM of the account in the conversation ({other}) from "
                                        f"{window}, with other words.")
        return Confirmation.absent(f"all {read} DM events of the conversation on X from {window} were read; "
                                   "the reply is not among them")

    # --- the demo's simulated network ---
    def simulated_accounts(self) -> list[SimulatedAccount]:
        return simulate.ACCOUNTS

    def simulated_payload(self, account: ChannelAccount, event: dict) -> tuple[bytes, dict[str, str]]:
        return simulate.x_payloads(event, account.external_id)


_LEADING_HANDLES = re.compile(r"^(?:@\w{1,15}\s+)+")


def _comparable(value, *, from_x: bool = False) -> str:
    """A reply's words as X gives them back: see ``comparable_text``; X also starts a reply
    with the @handles of the people it answers, which the officer did not write."""
    text = comparable_text(value if isinstance(value, str) else "", unescape=from_x)
    return _LEADING_HANDLES.sub("", text)
