"""The domain: channel accounts, citizens, conversations, messages, teams, audit.

Everything that arrives (``RawEvent``, inbound ``Message``, ``MessageRevision``) or leaves
(outbound ``Message`` and its ``DeliveryAttempt`` rows) is kept: the inbox is a public
record. Uniqueness constraints, not checks in Python, make redelivery harmless.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inbox.encryption import EncryptedJSONField


def platform_choices() -> list[tuple[str, str]]:
    """Choices come from the adapter registry in settings (``CHANNEL_ADAPTERS``), named as
    each adapter names its platforms."""
    from channels_adapters.registry import platform_label  # the registry imports the models

    return [(key, platform_label(key)) for key in settings.CHANNEL_ADAPTERS]


class Team(models.Model):
    class Assignment(models.TextChoices):
        MANUAL = "manual", _("Manual pull")
        ROUND_ROBIN = "round_robin", _("Round robin")
        LEAST_LOADED = "least_loaded", _("Least loaded")

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    assignment = models.CharField(
        max_length=20, choices=Assignment.choices, default=Assignment.ROUND_ROBIN
    )
    # How many open conversations an officer of the team holds at most (assignment and the
    # backlog sweep never give more; an officer may still take more by hand).
    capacity_private = models.PositiveSmallIntegerField(
        _("capacity, private messages"), default=5,
        help_text=_("Open private conversations an officer is given at most"),
    )
    capacity_public = models.PositiveSmallIntegerField(
        _("capacity, public posts"), default=10,
        help_text=_("Open public conversations an officer is given at most"),
    )
    # Take a conversation back from an assignee who has not answered it within N minutes.
    reassign_after_minutes = models.PositiveIntegerField(
        _("take back after (minutes)"), null=True, blank=True,
        help_text=_("Give a conversation to someone else when its assignee has not answered within "
                    "this many minutes; empty: never"),
    )
    # Round-robin cursor: the officer who received the last assignment.
    last_assigned_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_team_queue", "Can see the team's queue"),
            ("reply_in_team", "Can answer the team's conversations"),
            ("supervise_team", "Can supervise the team (reassign, approve)"),
        ]

    def __str__(self) -> str:
        return self.name


class ReplyApproval(models.TextChoices):
    """Which replies through a channel account wait for a supervisor's approval."""

    NONE = "none", _("No approval needed")
    UNPERMITTED = "unpermitted", _("Every reply of officers without the 'publish without approval' permission")
    ALL_PUBLIC = "all_public", _("Every public reply")


class ChannelAccount(models.Model):
    """One account of the administration on one platform (an X account, a Facebook page)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        NEEDS_RECONNECT = "needs_reconnect", _("Needs reconnecting")
        DISABLED = "disabled", _("Disabled")

    platform = models.CharField(max_length=20, choices=platform_choices)
    external_id = models.CharField(max_length=100, help_text="The platform's own id of the account")
    name = models.CharField(max_length=200)
    handle = models.CharField(max_length=200, blank=True)
    credentials = EncryptedJSONField(blank=True, default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Poll cursors and rate-limit state per endpoint, e.g. {"mentions": {"since_id": "..."}}.
    cursors = models.JSONField(default=dict, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    default_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="default_for_accounts"
    )
    # When the account is served (routing.ServiceCalendar); none: around the clock.
    calendar = models.ForeignKey(
        "routing.ServiceCalendar", null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts"
    )
    simulated = models.BooleanField(
        default=False,
        help_text="Fed and answered by the simulated network (demo and training): never polled, "
        "and replies are delivered to the simulator instead of the platform.",
    )
    # Which public replies wait for a supervisor (inbox/services/approvals.py, docs/approvals.md).
    reply_approval = models.CharField(
        _("approval of replies"), max_length=12, choices=ReplyApproval.choices,
        default=ReplyApproval.NONE,
        help_text=_("Give trusted officers the 'publish without approval' permission on this account "
                    "(Object permissions) when approval is needed for officers without it."),
    )
    # The language of the citizens it mostly serves (ISO 639-1): the saved reply's version
    # the composer proposes when the conversation's language has none (inbox/services/library.py).
    default_language = models.CharField(
        _("default language"), max_length=8, blank=True,
        help_text=_("Saved replies are proposed in this language when the conversation's has no version"),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["platform", "name"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="account_platform_id_uniq")
        ]
        permissions = [("publish_without_approval", _("Can publish replies without approval"))]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} · {self.name}"


class Person(models.Model):
    """A citizen across platforms: several Contacts may belong to one Person.

    Linking contacts merges Persons (inbox/services/people.py); an absorbed Person is kept,
    empty, with ``merged_into`` set, so that a ``PersonLink`` can be undone exactly.
    """

    display_name = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Set while this Person's contacts belong to another Person (an undoable link)",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.display_name or f"Person {self.pk}"


class PersonLink(models.Model):
    """One link of contacts into a Person, with what it changed, so that undo restores the
    exact prior state: each contact's previous Person, the Persons absorbed, the survivor's
    name and notes before, the contact lists it gained, and whether the Person was new."""

    # Null once an undo removed the Person the link had created (the audit trail keeps its id).
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="links")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # [[contact_id, previous person_id or null], ...]
    contacts = models.JSONField(default=list)
    absorbed_person_ids = models.JSONField(default=list, blank=True)
    person_created = models.BooleanField(default=False)
    # The surviving Person's {"display_name", "notes"} before and right after the link.
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    lists_added = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["person", "-id"], name="personlink_person_idx")]

    def __str__(self) -> str:
        return f"link {self.pk} into person {self.person_id}"


class Contact(models.Model):
    """One identity on one platform (an X user, a Facebook user, an e-mail address)."""

    platform = models.CharField(max_length=20)
    external_id = models.CharField(max_length=100)
    handle = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=200, blank=True)
    profile = models.JSONField(default=dict, blank=True)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="contact_platform_id_uniq")
        ]
        # Suggested links (inbox/services/people.py) look contacts up by handle, name and
        # e-mail address without case: without these, a scan of every contact per page view.
        indexes = [
            models.Index(Upper("handle"), name="contact_handle_upper_idx"),
            models.Index(Upper("name"), name="contact_name_upper_idx"),
            models.Index(Upper("external_id"), name="contact_extid_upper_idx"),
            models.Index(Upper(KeyTextTransform("email", "profile")), name="contact_email_upper_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.handle or self.external_id

    @property
    def display(self) -> str:
        if self.name and self.handle:
            return f"{self.name} (@{self.handle})" if self.platform == "x" else self.name
        return self.name or self.handle or self.external_id


class Tag(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    color = models.CharField(max_length=7, default="#64748b")
    # Public replies on a conversation with this tag wait for a supervisor (e.g. elections).
    requires_approval = models.BooleanField(
        _("public replies need approval"), default=False,
        help_text=_("Public replies on conversations with this tag wait for a supervisor's approval"),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    class Kind(models.TextChoices):
        PUBLIC = "public", _("Public")
        PRIVATE = "private", _("Private")

    class Status(models.TextChoices):
        NEW = "new", _("New")
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending citizen")
        SNOOZED = "snoozed", _("Snoozed")
        RESOLVED = "resolved", _("Resolved")
        SPAM = "spam", _("Spam")

    class Priority(models.IntegerChoices):
        LOW = 0, _("Low")
        NORMAL = 1, _("Normal")
        HIGH = 2, _("High")
        URGENT = 3, _("Urgent")

    # Keep in step with the partial indexes' condition in Meta.
    ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.SNOOZED)

    account = models.ForeignKey(ChannelAccount, on_delete=models.PROTECT, related_name="conversations")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    thread_key = models.CharField(max_length=200)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_conversations"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    language = models.CharField(max_length=8, blank=True)
    subject = models.CharField(max_length=200, blank=True, help_text="First words of the first message")
    last_message_preview = models.CharField(max_length=200, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")
    routed_by = models.CharField(max_length=200, blank=True, help_text="Which rule placed it")
    first_inbound_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    # When the current assignee received it (routing's take-back measures from here).
    assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # SLA, denormalised from routing's clocks (only routing.sla writes these; docs/sla.md).
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True, help_text="Due time of the current target")
    sla_state = models.CharField(max_length=10, blank=True)
    first_response_kind = models.CharField(max_length=12, blank=True)
    # The platform said the citizen can no longer receive the account's messages here (a
    # Telegram user who blocked the bot): replies are refused with the reason until it says
    # otherwise. The account itself is fine.
    unreachable_at = models.DateTimeField(null=True, blank=True)
    unreachable_reason = models.CharField(max_length=300, blank=True)
    # Snoozed until this time (inbox/services/snooze.py): out of the queue until then, when the
    # wake task sets it open and ``woken_at``, which keeps it at the top of the queue until an
    # officer acts on it (reply, status, snooze again).
    snoozed_until = models.DateTimeField(null=True, blank=True)
    woken_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "thread_key"], name="conversation_thread_uniq")
        ]
        # The queues list active conversations newest first: partial indexes on the active
        # statuses return them in order, so a page costs the same with 100 or 100,000 rows.
        indexes = [
            models.Index(
                fields=["team", "-last_inbound_at", "-id"], name="conv_team_active_idx",
                condition=Q(status__in=["new", "open", "pending", "snoozed"]),
            ),
            models.Index(
                fields=["assignee", "-last_inbound_at", "-id"], name="conv_assignee_active_idx",
                condition=Q(status__in=["new", "open", "pending", "snoozed"]),
            ),
            models.Index(fields=["team", "-last_inbound_at", "-id"], name="conv_team_recent_idx"),
            models.Index(fields=["team", "status", "-last_inbound_at"], name="conv_team_status_idx"),
            models.Index(fields=["status", "-last_inbound_at", "-id"], name="conv_status_idx"),
            models.Index(fields=["contact", "-created_at"], name="conv_contact_idx"),
            # Queues sorted by due time (most urgent first), filtered to at risk / breached.
            models.Index(
                fields=["team", "sla_due_at", "id"], name="conv_team_sla_due_idx",
                condition=Q(status__in=["new", "open", "pending", "snoozed"]),
            ),
            models.Index(
                fields=["sla_due_at", "id"], name="conv_sla_due_idx",
                condition=Q(status__in=["new", "open", "pending", "snoozed"]),
            ),
            models.Index(
                fields=["team", "-last_inbound_at", "-id"],
                name="conv_unassigned_idx",
                condition=Q(assignee__isnull=True),
            ),
            # The wake task's range (snoozed, due first) and the queue's woken-first block.
            models.Index(fields=["snoozed_until", "id"], name="conv_snooze_due_idx", condition=Q(status="snoozed")),
            models.Index(fields=["team", "-woken_at", "-id"], name="conv_woken_idx",
                         condition=Q(woken_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class RawEvent(models.Model):
    """The bytes and headers of a webhook delivery or a poll page, exactly as received."""

    class Source(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook")
        POLL = "poll", _("Poll")

    platform = models.CharField(max_length=20)
    account = models.ForeignKey(ChannelAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="raw_events")
    source = models.CharField(max_length=10, choices=Source.choices)
    body = models.BinaryField()
    headers = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # Set when an admin had it read again (after a parser fix): its quarantine is re-checked.
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["received_at"], name="raw_pending_idx", condition=Q(processed_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.source} {self.received_at:%Y-%m-%d %H:%M:%S}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", _("From the citizen")
        OUTBOUND = "out", _("To the citizen")
        NOTE = "note", _("Internal note")

    class Kind(models.TextChoices):
        MENTION = "mention", _("Mention")
        REPLY = "reply", _("Public reply")
        COMMENT = "comment", _("Comment")
        DM = "dm", _("Private message")
        EMAIL = "email", _("E-mail")
        NOTE = "note", _("Note")

    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Public")
        PRIVATE = "private", _("Private")
        INTERNAL = "internal", _("Internal")

    class Delivery(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Automatic(models.TextChoices):
        FIRST_CONTACT = "first_contact", _("First-contact acknowledgement")
        OUT_OF_HOURS = "out_of_hours", _("Out of hours")
        RULE = "rule", _("Routing rule")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    account = models.ForeignKey(ChannelAccount, on_delete=models.PROTECT, related_name="+")
    direction = models.CharField(max_length=4, choices=Direction.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    visibility = models.CharField(max_length=10, choices=Visibility.choices)
    # NULL, not "": NULLs are distinct under the unique constraint, "" would collide.
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    in_reply_to = models.CharField(max_length=200, blank=True, help_text="Platform id this answers")
    author_contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="messages")
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(help_text="Platform timestamp (or when we sent it)")
    received_at = models.DateTimeField(default=timezone.now)
    raw_event = models.ForeignKey(RawEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    # Outbound only. The composer's token makes a double submit (or an API retry) one reply.
    client_token = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULLs are distinct
    delivery_status = models.CharField(max_length=10, choices=Delivery.choices, blank=True)
    delivery_error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Outbound only: the saved reply it was written from (a holding one fulfils the first
    # response as "holding" and starts the clock of the real answer).
    saved_reply = models.ForeignKey(
        "inbox.SavedReply", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Outbound only: why the system sent it by itself (empty: a person wrote it). Automatic
    # replies have no author_user and never count as a response (routing/sla.py).
    automatic = models.CharField(max_length=20, choices=Automatic.choices, blank=True)

    class Meta:
        constraints = [
            # NULLs are distinct: notes and unsent replies have no platform id yet.
            models.UniqueConstraint(fields=["account", "external_id"], name="message_platform_id_uniq"),
            models.UniqueConstraint(fields=["conversation", "client_token"], name="message_client_token_uniq"),
        ]
        indexes = [
            models.Index(fields=["conversation", "sent_at", "id"], name="msg_timeline_idx"),
            models.Index(
                fields=["delivery_status", "next_attempt_at"],
                name="msg_outbound_idx",
                condition=Q(direction="out"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()}: {self.text[:40]}"


class MessageRevision(models.Model):
    """A citizen's edit or deletion: the text before it, kept as a public record."""

    class Action(models.TextChoices):
        EDIT = "edit", _("Edited")
        DELETE = "delete", _("Deleted")
        HIDE = "hide", _("Hidden")
        UNHIDE = "unhide", _("Unhidden")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    action = models.CharField(max_length=10, choices=Action.choices)
    previous_text = models.TextField(blank=True)
    previous_attachments = models.JSONField(default=list, blank=True)
    occurred_at = models.DateTimeField()
    raw_event = models.ForeignKey(RawEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.occurred_at:%Y-%m-%d %H:%M}"


class QuarantinedItem(models.Model):
    """An item of a delivery (or a whole delivery) that no parser could read, with the reason.

    Its neighbours were stored; it waits here until an admin replays its RawEvent after a
    fix, and is resolved when a replay reads it. ``locator`` says where in the body it is
    ("entry[0].messaging[1]"); an empty locator is the whole delivery.
    """

    raw_event = models.ForeignKey(RawEvent, on_delete=models.PROTECT, related_name="quarantined_items")
    platform = models.CharField(max_length=20)
    account = models.ForeignKey(ChannelAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    locator = models.CharField(max_length=200, blank=True)
    reason = models.TextField()
    fragment = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["raw_event", "locator"], name="quarantine_item_uniq"),
        ]
        indexes = [
            models.Index(fields=["-created_at"], name="quarantine_open_idx", condition=Q(resolved_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.locator or 'delivery'}: {self.reason[:60]}"


class MessageTombstone(models.Model):
    """A citizen's change to a message that had not arrived yet (deliveries come out of order).

    Deletions and hides wait here and are applied when the message comes; an edit whose
    original never came was stored as the message, and waits here for the original text, to
    keep it as a revision if it ever arrives. ``applied_at`` is set once that is done.
    """

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=200)
    action = models.CharField(max_length=10, choices=MessageRevision.Action.choices)
    occurred_at = models.DateTimeField()
    text = models.TextField(blank=True)
    raw_event = models.ForeignKey(RawEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "external_id", "action", "occurred_at"], name="tombstone_change_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "external_id"], name="tombstone_pending_idx",
                         condition=Q(applied_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.action} of {self.external_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class DeliveryAttempt(models.Model):
    """One try at handing an outbound message to the platform."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("Sent")
        RETRY = "retry", _("Transient failure, will retry")
        FAILED = "failed", _("Permanent failure")
        UNCERTAIN = "uncertain", _("Unknown whether it was sent")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="delivery_attempts")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    error = models.TextField(blank=True)
    platform_code = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"attempt {self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome or 'in progress'}"


class SavedReply(models.Model):
    """A reply officers reuse, of a kind from the civil-service guidance.

    ``body`` in ``language`` is its main text; ``versions`` hold the other languages. The
    composer proposes the version in the conversation's language, then the account's default
    language, then the main text (inbox/services/library.py). Texts may use the variables of
    ``inbox.services.library.VARIABLES``, filled in on insert.
    """

    class Kind(models.TextChoices):
        # "holding" stops the first-response clock as a holding reply (docs/sla.md); the rest
        # follow the guide's kinds of answer.
        ACKNOWLEDGEMENT = "acknowledgement", _("Acknowledgement")
        HOLDING = "holding", _("Holding reply")
        SIGNPOSTING = "signposting", _("Signposting")
        CLARIFICATION = "clarification", _("Clarification")
        EXPLORATORY = "exploratory", _("Exploratory")
        ENCOURAGEMENT = "encouragement", _("Encouragement")
        INVITATION = "invitation", _("Invitation")
        APOLOGY = "apology", _("Apology")
        OTHER = "other", _("Other")

    title = models.CharField(max_length=120)
    body = models.TextField()
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="saved_replies")
    language = models.CharField(max_length=8, blank=True)
    # Replies sent with it (counted once, when the platform took the reply).
    usage_count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "saved replies"

    def __str__(self) -> str:
        return self.title


class SavedReplyVersion(models.Model):
    """The text of a saved reply in another language than its main one."""

    saved_reply = models.ForeignKey(SavedReply, on_delete=models.CASCADE, related_name="versions")
    language = models.CharField(max_length=8)
    body = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["language"]
        constraints = [
            models.UniqueConstraint(fields=["saved_reply", "language"], name="savedreply_version_language_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.saved_reply_id} ({self.language})"


class AuditEvent(models.Model):
    """Append-only: who did what to which object, and when."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    verb = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=60)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The hash chain (inbox/audit.py): sealed rows are numbered without gaps and each hash
    # covers the row and the previous hash, so a row deleted or altered behind the
    # application's back breaks the chain where ``manage.py audit_verify`` looks.
    seal_seq = models.BigIntegerField(null=True, blank=True, unique=True)
    chain_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-created_at"], name="audit_target_idx"),
            models.Index(fields=["id"], name="audit_unsealed_idx", condition=Q(seal_seq__isnull=True)),
            # The trail's search (inbox/records/audit_trail.py): newest first by id, by person,
            # by verb, by period.
            models.Index(fields=["actor", "-id"], name="audit_actor_idx"),
            models.Index(fields=["verb", "-id"], name="audit_verb_idx"),
            models.Index(fields=["created_at"], name="audit_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.verb} {self.target_type}:{self.target_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only")
        super().save(*args, **kwargs)


class OfficerProfile(models.Model):
    """What assignment needs to know about a user: presence and language skills.

    Presence lives here, in the database, so that assignment can filter on it in the same
    query that counts loads (docs/architecture.md, "Presence"). ``status`` is what the
    officer chose; they count as available only while an open page sends heartbeats
    (``last_seen_at`` younger than ``PRESENCE_TIMEOUT_SECONDS``).
    """

    class Presence(models.TextChoices):
        AVAILABLE = "available", _("Available")
        AWAY = "away", _("Away")
        OFFLINE = "offline", _("Offline")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="officer_profile")
    status = models.CharField(_("presence"), max_length=10, choices=Presence.choices, default=Presence.OFFLINE)
    status_changed_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # ISO 639-1 codes the officer answers in, e.g. ["ca", "es"].
    languages = models.JSONField(_("languages"), default=list, blank=True)
    skills = models.JSONField(_("skills"), default=list, blank=True)
    # The interface language the user chose (settings.LANGUAGES); empty: the browser's.
    interface_language = models.CharField(
        _("interface language"), max_length=8, blank=True, default="",
        help_text=_("Empty: the language of the browser"),
    )

    class Meta:
        indexes = [models.Index(fields=["status", "last_seen_at"], name="officer_presence_idx")]

    def __str__(self) -> str:
        return f"{self.user} ({self.status})"


class AutoReplySetting(models.Model):
    """Per channel account: the automatic first-contact and out-of-hours replies.

    Each points at a saved reply; its version in the citizen's language is sent when there is
    one (``SavedReplyVersion``, see ``inbox.services.library.saved_reply_text``).
    """

    account = models.OneToOneField(ChannelAccount, on_delete=models.CASCADE, related_name="autoreply")
    acknowledgement = models.ForeignKey(
        SavedReply, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("first-contact acknowledgement"),
    )
    out_of_hours = models.ForeignKey(
        SavedReply, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("out-of-hours message"),
        help_text=_("{next_opening} in its text becomes when the service opens again"),
    )
    delay_minutes = models.PositiveSmallIntegerField(
        _("delay (minutes)"), default=0,
        help_text=_("Wait this long before sending; nothing is sent if an officer answers first"),
    )
    period_hours = models.PositiveSmallIntegerField(
        _("at most once per (hours)"), default=24,
        help_text=_("A conversation receives each automatic reply at most once in this period"),
    )
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"automatic replies of {self.account}"


class ReplyDraft(models.Model):
    """An officer's reply held for a supervisor's approval (docs/approvals.md).

    Kept on the server, so it survives a closed browser; the composer shows it. It is sent,
    once, only when a supervisor approves it, and only if the conversation has not moved on
    since ``last_seen_message_id`` (the message it was written against) and the platform
    still accepts the reply. Waiting for approval never pauses the SLA clocks.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        RETURNED = "returned", _("Returned to the author")
        APPROVED = "approved", _("Approved and queued for sending")
        SUPERSEDED = "superseded", _("Not sent: the conversation moved on")
        EXPIRED = "expired", _("Not sent: the platform no longer accepts it")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    OPEN_STATUSES = (Status.PENDING, Status.RETURNED)

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reply_drafts")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reply_drafts")
    text = models.TextField()
    # The reply option chosen in the composer (the platform adapter's key: public, private...).
    option = models.CharField(max_length=40)
    visibility = models.CharField(max_length=10, choices=Message.Visibility.choices)
    saved_reply = models.ForeignKey(SavedReply, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    confirm_public = models.BooleanField(default=False)
    # The newest message the author had been shown when writing: anything newer to or from
    # the citizen supersedes the draft.
    last_seen_message_id = models.BigIntegerField(default=0)
    # Why it needs approval: "account", "officer", "tag:<slug>".
    reasons = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_comment = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # Why an approved draft could not be sent (superseded, window closed).
    outcome_reason = models.TextField(blank=True)
    message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="approved_draft"
    )
    submitted_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # One open draft per author and conversation: a rewrite replaces it.
            models.UniqueConstraint(
                fields=["conversation", "author"], name="replydraft_one_open_uniq",
                condition=Q(status__in=["pending", "returned"]),
            ),
        ]
        indexes = [
            models.Index(fields=["submitted_at", "id"], name="replydraft_pending_idx",
                         condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"draft {self.pk} on #{self.conversation_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


# --- The public record: exports, legal holds, retention (inbox/records/, docs/public-record.md) ---


class RecordExport(models.Model):
    """An archive built in the background for its requester: a freedom-of-information export
    (a period, an account, a conversation or a Person) or a data-subject access export."""

    class Kind(models.TextChoices):
        FOI = "foi", _("Freedom-of-information export")
        DSAR = "dsar", _("Data-subject access export")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Being built")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="record_exports")
    # The scope as asked: date_from/date_to (ISO dates), account, conversation, person, notes.
    scope = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "-created_at"], name="export_requester_idx"),
            models.Index(fields=["expires_at"], name="export_expiry_idx", condition=Q(status="ready")),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.uuid}"


class LegalHold(models.Model):
    """While active (``released_at`` empty), the conversation or every conversation of the
    Person is never pseudonymised, erased or deleted."""

    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.PROTECT, related_name="legal_holds"
    )
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="legal_holds")
    reason = models.TextField()
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-set_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(conversation__isnull=False, person__isnull=True)
                | Q(conversation__isnull=True, person__isnull=False),
                name="legal_hold_one_target",
            ),
            models.UniqueConstraint(fields=["conversation"], condition=Q(released_at__isnull=True),
                                    name="legal_hold_conversation_active_uniq"),
            models.UniqueConstraint(fields=["person"], condition=Q(released_at__isnull=True),
                                    name="legal_hold_person_active_uniq"),
        ]

    def __str__(self) -> str:
        target = f"conversation #{self.conversation_id}" if self.conversation_id else f"person {self.person_id}"
        return f"hold on {target}"


class RetentionPolicy(models.Model):
    """How long an account's conversations keep their personal data; none: forever."""

    account = models.OneToOneField(ChannelAccount, on_delete=models.CASCADE, related_name="retention_policy")
    keep_months = models.PositiveSmallIntegerField(
        _("keep for (months)"), null=True, blank=True,
        help_text=_("Conversations quiet for longer are pseudonymised; empty: keep forever"),
    )
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"retention of {self.account}"


class RetentionRun(models.Model):
    """One pass of the retention task (or of ``manage.py retention_run``); counts grow batch
    by batch, so a run that crashed shows what it did."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"retention run {self.started_at:%Y-%m-%d %H:%M}"


class ConversationPseudonymisation(models.Model):
    """A conversation whose personal data was replaced (retention, or a Person's erasure):
    a run that crashed continues with the conversations that have no row here."""

    class Reason(models.TextChoices):
        RETENTION = "retention", _("Retention period")
        PSEUDONYMISE = "pseudonymise", _("Data subject: pseudonymised")
        ERASE = "erase", _("Data subject: erased")

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="pseudonymisation")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    run = models.ForeignKey(RetentionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    counts = models.JSONField(default=dict, blank=True)
    done_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"conversation #{self.conversation_id} {self.reason}"


class Notification(models.Model):
    """Something an officer must not miss, kept until read (docs/working-faster.md,
    "Notifications"): a mention in a note, an SLA warning, breach or escalation, a held reply
    approved or returned. Written in the transaction of the event that causes it
    (``inbox/services/notifications.py``); the socket message is only the live copy.

    The text is made from ids, names and figures when it is shown (``text``), in the reader's
    language: no citizen words are ever stored or shown here. Read ones go after 30 days.
    """

    class Kind(models.TextChoices):
        MENTION = "mention", _("Mention")
        SLA_WARNING = "sla_warning", _("SLA warning")
        SLA_BREACH = "sla_breach", _("SLA breach")
        ESCALATION = "escalation", _("Escalation")
        DRAFT_RETURNED = "draft_returned", _("Reply returned")
        DRAFT_APPROVED = "draft_approved", _("Reply approved")

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    # Who caused it (a colleague's display name: the mention's author, the draft's reviewer).
    actor = models.CharField(max_length=150, blank=True, default="")
    # The share of the response time used (SLA warnings and escalations).
    percent = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The top bar's "unread of a user, newest first" (every page): an index-only range.
            models.Index(fields=["recipient", "-created_at"], condition=models.Q(read_at__isnull=True),
                         name="notification_unread_idx"),
            # The API's list (all of a user's, newest first) and the 30-day retention.
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_recipient_idx"),
            models.Index(fields=["read_at"], condition=models.Q(read_at__isnull=False),
                         name="notification_read_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for user {self.recipient_id} on conversation #{self.conversation_id}"

    @property
    def text(self) -> str:
        """The line the panel, the API and e-mails show, in the active language."""
        from django.utils.translation import gettext

        values = {"id": self.conversation_id, "actor": self.actor, "percent": self.percent}
        return {
            self.Kind.MENTION: gettext("%(actor)s mentioned you in conversation #%(id)s"),
            self.Kind.SLA_WARNING: gettext("Conversation #%(id)s: %(percent)s%% of the response time used"),
            self.Kind.SLA_BREACH: gettext("Conversation #%(id)s: response time exceeded"),
            self.Kind.ESCALATION: gettext("Conversation #%(id)s escalated at %(percent)s%% of the response time"),
            self.Kind.DRAFT_RETURNED: gettext("%(actor)s returned your reply in conversation #%(id)s"),
            self.Kind.DRAFT_APPROVED: gettext("%(actor)s approved your reply in conversation #%(id)s"),
        }.get(self.kind, "#%(id)s") % values
