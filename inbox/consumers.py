"""The officer's live connection: queue and conversation changes, as ids only.

The browser refetches what changed through the ordinary (permission-checked) pages, so a
message on this socket never carries citizen data. A user joins the groups of the teams
they may see, and at most one conversation group, only if they may see that conversation.
"""

from __future__ import annotations

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model

from inbox.models import Conversation
from inbox.permissions import sees_unrouted, team_ids_for_user
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
def _may_watch(user, conversation_id: int) -> bool:
    try:
        conversation_for_user(user, conversation_id)
    except Conversation.DoesNotExist:
        return False
    return True


class InboxConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        self.user = user
        self.queue_groups: list[str] = []
        self.watching: str | None = None
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
        groups = [*getattr(self, "queue_groups", []), getattr(self, "watching", None), getattr(self, "user_group", None)]
        for group in groups:
            if group:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """``{"watch": <conversation id>}`` follows one conversation; ``{"watch": null}`` stops."""
        if not isinstance(content, dict) or "watch" not in content:
            await self.send_json({"type": "error", "error": "unknown request"})
            return
        if self.watching:
            await self.channel_layer.group_discard(self.watching, self.channel_name)
            self.watching = None
        conversation_id = content["watch"]
        if conversation_id is None:
            await self.send_json({"type": "watching", "conversation": None})
            return
        if not isinstance(conversation_id, int) or isinstance(conversation_id, bool) \
                or not await _may_watch(self.user, conversation_id):
            # Same answer for "does not exist" and "not yours": nothing to learn here.
            await self.send_json({"type": "error", "error": "no such conversation"})
            return
        self.watching = f"conversation-{conversation_id}"
        await self.channel_layer.group_add(self.watching, self.channel_name)
        await self.send_json({"type": "watching", "conversation": conversation_id})

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

    async def conversation_changed(self, event):
        await self.send_json({"type": "conversation.changed", "conversation": event.get("conversation")})
