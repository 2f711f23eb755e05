"""The Django admin for the domain.

What arrived or left (raw events, messages, revisions, delivery attempts) and the audit
trail are public records: the admin shows them and never changes or deletes them.
Conversations change only through the inbox and the API, whose services write the audit
trail, so they are read-only here too. Channel credentials are never shown, only whether
they are set.
"""

from __future__ import annotations

import contextlib
import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from guardian.admin import GuardedModelAdmin

from inbox.models import (
    AuditEvent,
    ChannelAccount,
    Contact,
    Conversation,
    DeliveryAttempt,
    Message,
    MessageRevision,
    Person,
    RawEvent,
    SavedReply,
    Tag,
    Team,
)

RAW_BODY_DISPLAY_LIMIT = 200_000  # characters; the full bytes stay in the database


def _pretty_json(value) -> str:
    # format_html escapes: citizen text inside JSON is never rendered as HTML.
    return format_html('<pre class="admin-pre">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


class AdminCss:
    """The admin's few styles come from a file: the CSP forbids style attributes."""

    class Media:
        css = {"all": ["css/admin.css"]}


class ReadOnlyMixin:
    """View-only: a public record is kept as it was."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(AdminCss, ReadOnlyMixin, admin.ModelAdmin):
    pass


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


# --- Configuration: teams, accounts, tags, saved replies --------------------------------------


@admin.register(Team)
class TeamAdmin(GuardedModelAdmin):
    """Object permissions (see queue, reply, supervise) are managed from each team's page."""

    list_display = ["name", "slug", "assignment", "created_at"]
    list_filter = ["assignment"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["last_assigned_user", "created_at"]


@admin.register(ChannelAccount)
class ChannelAccountAdmin(AdminCss, GuardedModelAdmin):
    """Object permissions (guardian) on an account: an admin grants *publish without
    approval* per officer there, which ``reply_approval`` = "unpermitted" asks for."""

    list_display = ["name", "platform", "handle", "external_id", "status", "reply_approval", "credentials_set",
                    "default_team", "last_error_at"]
    list_filter = ["platform", "status"]
    search_fields = ["name", "handle", "external_id"]
    list_select_related = ["default_team"]
    # Never "credentials": secrets are set with `manage.py add_channel_account` or the
    # connect pages, and are not displayed anywhere.
    fields = [
        "platform", "external_id", "name", "handle", "default_team", "status", "reply_approval",
        "credentials_set", "last_error", "last_error_at", "cursors_display", "next_poll_at", "created_at",
    ]
    readonly_fields = ["credentials_set", "last_error", "last_error_at", "cursors_display", "next_poll_at", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # the platform identity of an existing account does not change
            return ["platform", "external_id", *self.readonly_fields]
        return self.readonly_fields

    @admin.display(boolean=True, description=_("Credentials set"))
    def credentials_set(self, obj) -> bool:
        return bool(obj.credentials) if obj.pk else False

    @admin.display(description=_("Poll cursors"))
    def cursors_display(self, obj) -> str:
        return _pretty_json(obj.cursors or {})


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "color", "requires_approval"]
    list_filter = ["requires_approval"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin):
    list_display = ["title", "team", "language", "created_at"]
    list_filter = ["team", "language"]
    search_fields = ["title", "body"]
    list_select_related = ["team"]


# --- Citizens --------------------------------------------------------------------------------


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ["platform", "handle", "name", "external_id"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    """Linking a citizen's identities across platforms is an admin task (set a contact's person)."""

    list_display = ["__str__", "display_name", "created_at"]
    search_fields = ["display_name", "contacts__handle", "contacts__name"]
    inlines = [ContactInline]


@admin.register(Contact)
class ContactAdmin(AdminCss, admin.ModelAdmin):
    list_display = ["__str__", "platform", "handle", "external_id", "person", "updated_at"]
    list_filter = ["platform"]
    search_fields = ["handle", "name", "external_id"]
    list_select_related = ["person"]
    raw_id_fields = ["person"]
    fields = ["platform", "external_id", "handle", "name", "person", "profile_display", "created_at", "updated_at"]
    readonly_fields = ["platform", "external_id", "handle", "name", "profile_display", "created_at", "updated_at"]

    def has_add_permission(self, request) -> bool:  # contacts come from the platforms
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # their messages are records
        return False

    @admin.display(description=_("Profile"))
    def profile_display(self, obj) -> str:
        return _pretty_json(obj.profile or {})


# --- Conversations and the public record ------------------------------------------------------


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["sent_at", "direction", "kind", "text", "delivery_status"]
    readonly_fields = fields
    ordering = ["sent_at", "id"]


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["id", "subject", "account", "kind", "status", "team", "assignee", "last_inbound_at"]
    list_filter = ["status", "kind", "account__platform", "team"]
    search_fields = ["subject", "thread_key", "contact__handle", "contact__name"]
    list_select_related = ["account", "team", "assignee"]
    show_full_result_count = False
    inlines = [MessageInline]


class MessageRevisionInline(ReadOnlyInline):
    model = MessageRevision
    fields = ["occurred_at", "action", "previous_text"]
    readonly_fields = fields


class DeliveryAttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = ["started_at", "finished_at", "outcome", "platform_code", "error"]
    readonly_fields = fields


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "sent_at", "direction", "kind", "account", "conversation_id", "short_text", "delivery_status"]
    list_filter = ["direction", "kind", "visibility", "delivery_status", "account__platform"]
    search_fields = ["text", "external_id"]
    list_select_related = ["account"]
    show_full_result_count = False
    exclude = ["attachments"]
    readonly_fields = ["attachments_display"]
    inlines = [MessageRevisionInline, DeliveryAttemptInline]

    @admin.display(description=_("Text"))
    def short_text(self, obj) -> str:
        return obj.text[:80]

    @admin.display(description=_("Attachments"))
    def attachments_display(self, obj) -> str:
        return _pretty_json(obj.attachments or [])


@admin.register(MessageRevision)
class MessageRevisionAdmin(ReadOnlyAdmin):
    list_display = ["id", "message_id", "action", "occurred_at", "created_at"]
    list_filter = ["action"]
    search_fields = ["previous_text"]
    show_full_result_count = False


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ["id", "message_id", "started_at", "finished_at", "outcome", "platform_code"]
    list_filter = ["outcome"]
    search_fields = ["error", "platform_code"]
    show_full_result_count = False


@admin.register(RawEvent)
class RawEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "platform", "source", "account", "received_at", "processed_at", "attempts", "short_error"]
    list_filter = ["platform", "source", ("processed_at", admin.EmptyFieldListFilter)]
    search_fields = ["error"]
    list_select_related = ["account"]
    show_full_result_count = False
    fields = ["platform", "source", "account", "received_at", "processed_at", "attempts", "error", "headers_display", "body_text"]
    readonly_fields = ["headers_display", "body_text"]

    def get_queryset(self, request):
        # The list never shows the body; bodies can be megabytes.
        return super().get_queryset(request).defer("body")

    @admin.display(description=_("Error"))
    def short_error(self, obj) -> str:
        return obj.error[:80]

    @admin.display(description=_("Headers"))
    def headers_display(self, obj) -> str:
        return _pretty_json(obj.headers or {})

    @admin.display(description=_("Body (decoded as UTF-8)"))
    def body_text(self, obj) -> str:
        raw = bytes(obj.body or b"")
        text = raw.decode("utf-8", errors="replace")
        with contextlib.suppress(ValueError):  # not JSON (e-mail, form-encoded): as received
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        suffix = ""
        if len(text) > RAW_BODY_DISPLAY_LIMIT:
            text, suffix = text[:RAW_BODY_DISPLAY_LIMIT], f"\n… ({len(raw)} bytes in all)"
        return format_html('<pre class="admin-pre">{}{}</pre>', text, suffix)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "verb", "target_type", "target_id"]
    list_filter = ["verb", "target_type"]
    search_fields = ["verb", "target_id", "actor__username"]
    list_select_related = ["actor"]
    show_full_result_count = False
    exclude = ["data"]
    readonly_fields = ["data_display"]

    @admin.display(description=_("Data"))
    def data_display(self, obj) -> str:
        return _pretty_json(obj.data or {})
