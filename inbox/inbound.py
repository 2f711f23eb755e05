"""Typed values that cross from the platform adapters into the core.

Adapters validate payloads at the edge and hand the core only these dataclasses; nothing
deeper than an adapter ever indexes into a raw payload dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Action(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    DELETE = "delete"
    HIDE = "hide"
    UNHIDE = "unhide"


@dataclass(frozen=True, slots=True)
class InboundAuthor:
    external_id: str
    handle: str = ""
    name: str = ""
    profile: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Attachment:
    type: str  # image, video, audio, file, link
    url: str = ""
    name: str = ""
    mime_type: str = ""
    # The platform's handle for fetching the file through its API (Telegram's file_id): kept
    # for the adapter's own download view, never a secret and never shown.
    ref: str = ""

    def as_dict(self) -> dict:
        return {k: v for k, v in (("type", self.type), ("url", self.url), ("name", self.name),
                                  ("mime_type", self.mime_type), ("ref", self.ref)) if v}


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One citizen message (or an edit/deletion of one) as a platform reported it."""

    platform: str  # ChannelAccount.platform
    account_external_id: str  # the administration's account it was addressed to
    external_id: str  # the platform's id of the message, unique per account
    thread_key: str  # which conversation it belongs to
    kind: str  # Message.Kind value: mention, comment, dm, email ...
    visibility: str  # public / private
    author: InboundAuthor
    text: str
    sent_at: datetime
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str = ""
    action: Action = Action.CREATE

    def __post_init__(self) -> None:
        if self.sent_at.tzinfo is None:
            raise ValueError("sent_at must be timezone-aware")
        if not self.external_id or not self.thread_key:
            raise ValueError("external_id and thread_key are required")
        # Longer than the columns that hold them, an item would fail its whole batch in the
        # database: refused here, it is quarantined alone and its neighbours are stored.
        for name, value, limit in (
            ("external_id", self.external_id, 200), ("thread_key", self.thread_key, 200),
            ("author.external_id", self.author.external_id, 100), ("in_reply_to", self.in_reply_to, 200),
        ):
            if len(value) > limit:
                raise ValueError(f"{name} is {len(value)} characters long; at most {limit} are kept")
        if not self.author.external_id:
            raise ValueError("author.external_id is required")


@dataclass(frozen=True, slots=True)
class IngestResult:
    new_message_ids: list[int]
    new_conversation_ids: list[int]
    touched_conversation_ids: list[int]
    revised_message_ids: list[int]
    skipped: int  # duplicates and messages for unknown accounts
