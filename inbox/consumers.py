"""The officer's live connection: queue and conversation changes, as ids only.

The browser refetches what changed through the ordinary (permission-checked) pages, so a
message on this socket never carries citizen data. A user joins the groups of the teams
they may see, and at most one conversation group, only if they may see that conversation.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from inbox.models import Conversation
from inbox.permissions import sees_unrouted, team_ids_for_user
from inbox.selectors import conversation_for_user


@database_sync_to_async
def _queue_groups(user) -> list[str]:
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
        self.queue_groups = await _queue_groups(user)
        self.watching: str | None = None
        for group in self.queue_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in [*getattr(self, "queue_groups", []), getattr(self, "watching", None)]:
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
        await self.send_json({"type": "queue.changed", "conversations": event.get("conversations", [])})

    async def conversation_changed(self, event):
        await self.send_json({"type": "conversation.changed", "conversation": event.get("conversation")})
