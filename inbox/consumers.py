"""The officer's live connection: queue and conversation changes, as ids only.

The browser refetches what changed through the ordinary (permission-checked) pages, so a
message on this socket never carries citizen data. A user joins the groups of the teams
they may see, and at most one conversation group, only if they may see that conversation.
"""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model

from inbox import conversation_presence as presence
from inbox.models import Conversation
from inbox.permissions import sees_unrouted, team_ids_for_user
from inbox.security.services import session_signed_in
from inbox.selectors import conversation_for_user

# Team membership can change while a browser stays open: the groups are recomputed from a
# fresh user row at most this often, on the next event.
GROUPS_REFRESH_SECONDS = 60


@database_sync_to_async
def _queue_groups(user) -> list[str] | None:
    """The user's queue groups, read afresh; None when the account was deactivated."""
    user = get_user_model().objects.filter(pk=user.pk, is_active=True).first()
    if user is None:
        return None
    groups = [f"team-{team_id}" for team_id in team_ids_for_user(user)]
    if sees_unrouted(user):
        groups.append("team-unrouted")
    return groups


@database_sync_to_async
def _may_watch(user, conversation_id: int) -> str | None:
    """The conversation's queue group if the user may see it (presence is told there), else None."""
    try:
        conversation = conversation_for_user(user, conversation_id)
    except Conversation.DoesNotExist:
        return None
    return f"team-{conversation.team_id}" if conversation.team_id else "team-unrouted"


def _presence_call(method: str, *args):
    """Run a presence store call off the event loop; None when Redis is away (a courtesy)."""
    def call():
        try:
            return getattr(presence.store(), method)(*args)
        except Exception:
            presence.logger.warning("presence: %s failed", method, exc_info=True)
            return None
    return sync_to_async(call, thread_sensitive=False)()


class InboxConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        # A session that owes its second factor, or ended for inactivity, hears nothing either.
        if not await database_sync_to_async(session_signed_in)(self.scope.get("session")):
            await self.close()
            return
        self.user = user
        self.queue_groups: list[str] = []
        self.watching: str | None = None
        # Presence on the watched conversation (inbox/conversation_presence.py).
        self.watched_id: int | None = None
        self.watched_team_group: str | None = None
        self.typing = False
        self.display_name = user.get_full_name() or user.get_username()
        if not await self._refresh_groups():
            await self.close()
            return
        # The user's own notifications (SLA warnings and breaches: routing/sla_scan.py).
        self.user_group = f"user-{user.pk}"
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()

    async def _refresh_groups(self) -> bool:
        groups = await _queue_groups(self.user)
        self.groups_checked_at = time.monotonic()
        if groups is None:
            return False
        for group in set(self.queue_groups) - set(groups):
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in set(groups) - set(self.queue_groups):
            await self.channel_layer.group_add(group, self.channel_name)
        self.queue_groups = groups
        return True

    async def disconnect(self, code):
        await self._leave()
        groups = [*getattr(self, "queue_groups", []), getattr(self, "watching", None), getattr(self, "user_group", None)]
        for group in groups:
            if group:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """``{"watch": <conversation id>}`` follows one conversation; ``{"watch": null}`` stops.

        On the watched conversation: ``{"here": true}`` is the page's heartbeat (answered with
        who else is there), ``{"typing": true|false}`` says the composer is in use (debounced
        by the page). Colleagues hear it through the conversation's queue group.
        """
        if isinstance(content, dict) and "here" in content and self.watched_id:
            await self._here()
            return
        if isinstance(content, dict) and "typing" in content and self.watched_id:
            await self._typing(content["typing"] is True)
            return
        if not isinstance(content, dict) or "watch" not in content:
            await self.send_json({"type": "error", "error": "unknown request"})
            return
        await self._leave()
        if self.watching:
            await self.channel_layer.group_discard(self.watching, self.channel_name)
            self.watching = None
        conversation_id = content["watch"]
        if conversation_id is None:
            await self.send_json({"type": "watching", "conversation": None})
            return
        team_group = None
        if isinstance(conversation_id, int) and not isinstance(conversation_id, bool):
            team_group = await _may_watch(self.user, conversation_id)
        if team_group is None:
            # Same answer for "does not exist" and "not yours": nothing to learn here.
            await self.send_json({"type": "error", "error": "no such conversation"})
            return
        self.watching = f"conversation-{conversation_id}"
        await self.channel_layer.group_add(self.watching, self.channel_name)
        await self.send_json({"type": "watching", "conversation": conversation_id})
        self.watched_id, self.watched_team_group = conversation_id, team_group
        await self._here(announce=True)

    # --- Presence on the watched conversation ---------------------------------------------

    def _viewer(self) -> str:
        return presence.viewer_member(self.user.pk, self.display_name, self.channel_name[-24:])

    async def _here(self, *, announce: bool = False) -> None:
        result = await _presence_call("touch", self.watched_id, "v", self._viewer(), presence.VIEW_TTL)
        if result is None:
            return
        new, now = result
        if new or announce:
            await self._announce(now)
        else:
            # The heartbeat's answer: the page drops colleagues whose tabs expired unannounced.
            await self.send_json({"type": "presence.changed", "conversation": self.watched_id, **now.as_event()})

    async def _typing(self, typing: bool) -> None:
        member = presence.typing_member(self.user.pk, self.display_name)
        if typing:
            result = await _presence_call("touch", self.watched_id, "t", member, presence.TYPING_TTL)
        else:
            result = await _presence_call("remove", self.watched_id, "t", member)
        self.typing = typing
        if result is not None and (typing or result[0]):
            # Every debounced "typing" is passed on (colleagues' pages expire it otherwise).
            await self._announce(result[1])

    async def _leave(self) -> None:
        conversation_id = getattr(self, "watched_id", None)
        if not conversation_id:
            return
        self.watched_id = None
        if self.typing:
            self.typing = False
            await _presence_call("remove", conversation_id, "t", presence.typing_member(self.user.pk, self.display_name))
        result = await _presence_call("remove", conversation_id, "v", self._viewer())
        if result is not None:
            await self._announce(result[1], conversation_id=conversation_id)

    async def _announce(self, now, *, conversation_id: int | None = None) -> None:
        group = self.watched_team_group
        if not group:
            return
        await self.channel_layer.group_send(group, {
            "type": "presence.changed", "group": group,
            "conversation": conversation_id or self.watched_id, **now.as_event(),
        })

    # Group events (see inbox/realtime.py), forwarded as they are: ids only.
    async def queue_changed(self, event):
        stale = time.monotonic() - self.groups_checked_at > GROUPS_REFRESH_SECONDS
        if stale and not await self._refresh_groups():
            await self.close()
            return
        if event.get("group") not in (None, *self.queue_groups):
            return  # a team this user no longer sees
        await self.send_json({"type": "queue.changed", "conversations": event.get("conversations", [])})

    async def sla_notification(self, event):
        """Warnings, breaches and escalations for this user: ids and figures, no citizen data."""
        keys = ("conversation", "clock", "event", "level", "percent", "due_at")
        items = [{k: item.get(k) for k in keys} for item in event.get("items", [])]
        await self.send_json({"type": "sla.notification", "items": items})

    async def mention_notification(self, event):
        """A colleague mentioned this user in an internal note: ids and the colleague's name."""
        keys = ("conversation", "message", "author")
        await self.send_json({"type": "mention.notification", **{k: event.get(k) for k in keys}})

    async def presence_changed(self, event):
        """Who has a conversation of the user's teams open or is writing in it: names of
        colleagues and ids, never citizen data."""
        if event.get("group") not in self.queue_groups:
            return
        keys = ("conversation", "viewers", "typing")
        await self.send_json({"type": "presence.changed", **{k: event.get(k) for k in keys}})

    async def draft_changed(self, event):
        """The user's own reply held for approval was approved, returned or refused."""
        keys = ("draft", "conversation", "status")
        await self.send_json({"type": "draft.changed", **{k: event.get(k) for k in keys}})

    async def approvals_changed(self, event):
        """A draft of one of the user's teams changed (supervisors' approvals page refetches)."""
        if event.get("group") not in self.queue_groups:
            return
        keys = ("draft", "conversation", "status")
        await self.send_json({"type": "approvals.changed", **{k: event.get(k) for k in keys}})

    async def conversation_changed(self, event):
        await self.send_json({"type": "conversation.changed", "conversation": event.get("conversation")})
