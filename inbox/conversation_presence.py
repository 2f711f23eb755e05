"""Who has a conversation open, and who is writing a reply in it (docs/approvals.md, "Presence").

Not the officers' availability (``routing/presence.py``, in the database, for assignment):
this is a courtesy shown to colleagues, kept in Redis with expiry so that a closed tab or a
dead server leaves nothing behind. Per conversation, two sorted sets whose scores are the
times their members expire:

- ``presence:v:<id>``: one member per open page (user id, name, connection), refreshed by
  the page's heartbeat every ``HEARTBEAT_SECONDS``, gone ``VIEW_TTL`` seconds after the last;
- ``presence:t:<id>``: one member per user writing, sent (debounced) from the composer,
  gone ``TYPING_TTL`` seconds after the last keystroke message.

A queue page asks for all its rows in one pipeline: one Redis round trip per page, whatever
the page size, and no database query. Without Redis (the embedded default) a process-local
store does the same for the single process that serves the demo.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15
VIEW_TTL = 45
TYPING_TTL = 8


@dataclass
class Presence:
    """Who else is on one conversation: ``viewers`` and ``typing`` are [(user id, name)]."""

    viewers: list[tuple[int, str]] = field(default_factory=list)
    typing: list[tuple[int, str]] = field(default_factory=list)

    def without(self, user_id: int | None) -> Presence:
        return Presence([v for v in self.viewers if v[0] != user_id], [t for t in self.typing if t[0] != user_id])

    def __bool__(self) -> bool:
        return bool(self.viewers or self.typing)

    def as_event(self) -> dict:
        return {"viewers": [{"id": i, "name": n} for i, n in self.viewers],
                "typing": [{"id": i, "name": n} for i, n in self.typing]}

    @property
    def viewer_names(self) -> str:
        """Those viewing without writing (a writer is shown once, as writing)."""
        writing = {i for i, _ in self.typing}
        return ", ".join(n for i, n in self.viewers if i not in writing)

    @property
    def typing_names(self) -> str:
        return ", ".join(n for _, n in self.typing)


def _people(members: Iterable, *, typing: bool) -> list[tuple[int, str]]:
    """Distinct users, in the order they came: a user with two tabs open is one viewer."""
    seen: dict[int, str] = {}
    for raw in members:
        try:
            item = json.loads(raw)
            user_id, name = int(item[0]), str(item[1])
        except (ValueError, TypeError, IndexError):
            continue
        seen.setdefault(user_id, name)
    return list(seen.items())


class RedisStore:
    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def _snapshot(self, pipe, conversation_id: int, now: float) -> None:
        pipe.zrangebyscore(f"presence:v:{conversation_id}", now, "+inf")
        pipe.zrangebyscore(f"presence:t:{conversation_id}", now, "+inf")

    def touch(self, conversation_id: int, kind: str, member: str, ttl: int) -> tuple[bool, Presence]:
        """Add or refresh a member; returns (whether it is new, the presence now)."""
        now = time.time()
        key = f"presence:{kind}:{conversation_id}"
        pipe = self.client.pipeline(transaction=False)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {member: now + ttl})
        pipe.expire(key, ttl + 5)
        self._snapshot(pipe, conversation_id, now)
        results = pipe.execute()
        return bool(results[1]), Presence(_people(results[-2], typing=False), _people(results[-1], typing=True))

    def remove(self, conversation_id: int, kind: str, member: str) -> tuple[bool, Presence]:
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(f"presence:{kind}:{conversation_id}", member)
        self._snapshot(pipe, conversation_id, now)
        results = pipe.execute()
        return bool(results[0]), Presence(_people(results[-2], typing=False), _people(results[-1], typing=True))

    def many(self, conversation_ids: list[int]) -> dict[int, Presence]:
        if not conversation_ids:
            return {}
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        for conversation_id in conversation_ids:
            self._snapshot(pipe, conversation_id, now)
        results = pipe.execute()
        return {
            cid: Presence(_people(results[2 * i], typing=False), _people(results[2 * i + 1], typing=True))
            for i, cid in enumerate(conversation_ids)
        }


class MemoryStore:
    """The embedded default's store: one process, a lock, the same expiry rules."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sets: dict[str, dict[str, float]] = {}

    def _live(self, key: str, now: float) -> list[str]:
        members = self.sets.get(key, {})
        for member in [m for m, until in members.items() if until <= now]:
            del members[member]
        return sorted(members, key=members.get)

    def _presence(self, conversation_id: int, now: float) -> Presence:
        return Presence(_people(self._live(f"presence:v:{conversation_id}", now), typing=False),
                        _people(self._live(f"presence:t:{conversation_id}", now), typing=True))

    def touch(self, conversation_id: int, kind: str, member: str, ttl: int) -> tuple[bool, Presence]:
        now = time.time()
        with self.lock:
            members = self.sets.setdefault(f"presence:{kind}:{conversation_id}", {})
            self._live(f"presence:{kind}:{conversation_id}", now)
            new = member not in members
            members[member] = now + ttl
            return new, self._presence(conversation_id, now)

    def remove(self, conversation_id: int, kind: str, member: str) -> tuple[bool, Presence]:
        now = time.time()
        with self.lock:
            removed = self.sets.get(f"presence:{kind}:{conversation_id}", {}).pop(member, None) is not None
            return removed, self._presence(conversation_id, now)

    def many(self, conversation_ids: list[int]) -> dict[int, Presence]:
        now = time.time()
        with self.lock:
            return {cid: self._presence(cid, now) for cid in conversation_ids}


_store = None
_store_lock = threading.Lock()


def store():
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = RedisStore(settings.REDIS_URL) if settings.REDIS_URL else MemoryStore()
    return _store


def viewer_member(user_id: int, name: str, connection: str) -> str:
    return json.dumps([user_id, name, connection])


def typing_member(user_id: int, name: str) -> str:
    return json.dumps([user_id, name])


def presence_many(conversation_ids: list[int], *, exclude_user: int | None = None) -> dict[int, Presence]:
    """Presence for a page of conversations, others than ``exclude_user``: one round trip.
    Redis away: nobody is shown (presence is a courtesy; the page must still load)."""
    try:
        found = store().many(list(conversation_ids))
    except Exception as exc:  # redis.RedisError, or a connection refused
        logger.warning("presence: Redis unavailable (%s); the queue shows no presence", type(exc).__name__)
        return {}
    return {cid: p.without(exclude_user) for cid, p in found.items()}


def presence_attach(conversations: list, user) -> None:
    """Set ``.presence`` on each conversation of a page (colleagues only): one round trip."""
    found = presence_many([c.id for c in conversations], exclude_user=getattr(user, "pk", None))
    for conversation in conversations:
        conversation.presence = found.get(conversation.id)
