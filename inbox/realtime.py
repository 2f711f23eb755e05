"""Live updates: tell officers' browsers that a queue or a conversation changed.

Groups: ``team-<id>`` for queues, ``conversation-<id>`` for an open conversation page.
Called after commit, so a browser that refetches sees the new rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from inbox.models import Conversation

logger = logging.getLogger(__name__)


def conversations_changed(conversation_ids: Iterable[int]) -> None:
    ids = sorted(set(conversation_ids))
    if not ids:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    rows = Conversation.objects.filter(id__in=ids).values_list("id", "team_id")
    teams: dict[int | None, list[int]] = {}
    for conversation_id, team_id in rows:
        teams.setdefault(team_id, []).append(conversation_id)
    send = async_to_sync(layer.group_send)
    try:
        for team_id, conv_ids in teams.items():
            group = f"team-{team_id}" if team_id else "team-unrouted"
            send(group, {"type": "queue.changed", "conversations": conv_ids})
            for conversation_id in conv_ids:
                send(f"conversation-{conversation_id}", {"type": "conversation.changed", "conversation": conversation_id})
    except Exception:  # a live update is a courtesy: never fail the write that caused it
        logger.exception("realtime: could not publish changes for %s", ids[:10])
