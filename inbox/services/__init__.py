"""Writes to the domain, one module per concern; views, the API, tasks and commands call
these (and routing's own services place conversations and keep their clocks): nothing else
writes to the inbox's tables.

- ``ingest``: raw deliveries, quarantine and replay, messages stored exactly once;
- ``conversations``: officers' replies (queued), notes, status, assignment;
- ``delivery``: claiming a reply for sending, its attempts, settling it once;
- ``accounts``: connecting channel accounts, their errors, poll schedule and cursors.
"""

from inbox.services.accounts import (
    account_credentials_set,
    account_cursor_set,
    account_mark_error,
    account_poll_lease,
    account_poll_schedule,
    accounts_mark_revoked,
    channel_account_connect,
)
from inbox.services.conversations import (
    AssignmentRefused,
    MentionRefused,
    ReplyCollision,
    UnknownLastSeenMessage,
    conversation_assign,
    conversation_note_add,
    conversation_priority_set,
    conversation_reachability_set,
    conversation_status_set,
    conversation_tags_set,
    message_automatic_create,
    message_reply_collisions_check,
    message_reply_create,
)
from inbox.services.delivery import (
    delivery_attempt_note,
    message_claim_for_send,
    message_mark_failed,
    message_mark_retry,
    message_mark_sent,
)
from inbox.services.ingest import (
    messages_ingest,
    raw_event_mark_failed,
    raw_event_record,
    raw_events_claim,
    raw_events_give_up,
    raw_events_mark_processed,
    raw_events_quarantine,
    raw_events_replay,
    raw_events_store,
)

__all__ = [
    "AssignmentRefused",
    "MentionRefused",
    "ReplyCollision",
    "UnknownLastSeenMessage",
    "account_credentials_set",
    "account_cursor_set",
    "account_mark_error",
    "account_poll_lease",
    "account_poll_schedule",
    "accounts_mark_revoked",
    "channel_account_connect",
    "conversation_assign",
    "conversation_note_add",
    "conversation_priority_set",
    "conversation_reachability_set",
    "conversation_status_set",
    "conversation_tags_set",
    "delivery_attempt_note",
    "message_automatic_create",
    "message_claim_for_send",
    "message_mark_failed",
    "message_mark_retry",
    "message_mark_sent",
    "message_reply_collisions_check",
    "message_reply_create",
    "messages_ingest",
    "raw_event_mark_failed",
    "raw_event_record",
    "raw_events_claim",
    "raw_events_give_up",
    "raw_events_mark_processed",
    "raw_events_quarantine",
    "raw_events_replay",
    "raw_events_store",
]
