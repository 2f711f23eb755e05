"""Live updates: tell officers' browsers that a queue or a conversation changed.

Groups: ``team-<id>`` for queues, ``conversation-<id>`` for an open conversation page.
Called after commit, so a browser that refetches sees the new rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from inbox.models import Conversation

logger = logging.getLogger(__name__)


def conversations_changed(conversation_ids: Iterable[int], *, pages: bool = True,
                          team_of: Mapping[int, int | None] | None = None) -> None:
    """``pages=False`` tells the queues only (one message per team): the SLA scan may change
    thousands of conversations at once, and a message per conversation page costs a Redis
    round trip each. ``team_of`` (conversation id → team id), when the caller has them, saves
    reading them again."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    if team_of is not None:
        rows = [(i, team_of[i]) for i in ids]
    else:
        rows = Conversation.objects.filter(id__in=ids).values_list("id", "team_id")
    teams: dict[int | None, list[int]] = {}
    for conversation_id, team_id in rows:
        teams.setdefault(team_id, []).append(conversation_id)
    messages = []
    for team_id, conv_ids in teams.items():
        group = f"team-{team_id}" if team_id else "team-unrouted"
        messages.append((group, {"type": "queue.changed", "group": group, "conversations": conv_ids}))
        if pages:
            messages.extend(
                (f"conversation-{cid}", {"type": "conversation.changed", "conversation": cid}) for cid in conv_ids
            )
    try:
        # One event loop (and one Redis connection) for the whole batch, not one per group.
        async_to_sync(_send_all)(layer, messages)
    except Exception:  # a live update is a courtesy: never fail the write that caused it
        logger.exception("realtime: could not publish changes for %s", ids[:10])


async def _send_all(layer, messages: list[tuple[str, dict]]) -> None:
    for group, message in messages:
        await layer.group_send(group, message)
