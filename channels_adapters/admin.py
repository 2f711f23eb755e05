"""Admin pages of the ingest: the quarantine of items no parser could read, and their replay."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from channels_adapters.replay import items_replay
from inbox.admin import AdminCss
from inbox.models import QuarantinedItem
from inbox.permissions import can_manage_channels


class OpenFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("Waiting for a replay")), ("resolved", _("Read by a replay"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(QuarantinedItem)
class QuarantinedItemAdmin(AdminCss, admin.ModelAdmin):
    """What could not be read, with the reason; replayed after a fix (select, or filter by
    date and select all). Items are records: never edited or deleted here."""

    list_display = ["created_at", "platform", "account", "where", "short_reason", "attempts", "resolved_at"]
    list_filter = [OpenFilter, "platform", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["reason", "locator"]
    list_select_related = ["account"]
    show_full_result_count = False
    actions = ["replay_selected"]
    fields = ["raw_event", "platform", "account", "locator", "reason", "fragment_display", "created_at",
              "last_attempt_at", "attempts", "resolved_at"]
    readonly_fields = fields

    def has_module_permission(self, request) -> bool:
        return can_manage_channels(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return can_manage_channels(request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("Where"))
    def where(self, obj) -> str:
        return obj.locator or _("the whole delivery")

    @admin.display(description=_("Reason"))
    def short_reason(self, obj) -> str:
        return obj.reason[:100]

    @admin.display(description=_("Item as received"))
    def fragment_display(self, obj) -> str:
        if obj.fragment is None:
            return _("The delivery could not be read as a whole: see its raw event.")
        # format_html escapes: a citizen's text inside the JSON is never rendered as HTML.
        return format_html('<pre class="admin-pre">{}</pre>',
                           json.dumps(obj.fragment, indent=2, ensure_ascii=False))

    @admin.action(description=_("Replay the selected items (after a fix is deployed)"))
    def replay_selected(self, request, queryset):
        if not can_manage_channels(request.user):
            self.message_user(request, _("Only administrators can replay items."), messages.ERROR)
            return
        with transaction.atomic():
            replayed = items_replay(queryset.filter(resolved_at__isnull=True), actor=request.user,
                                    reason="admin action")
        self.message_user(request, ngettext(
            "%(count)d delivery is being read again; its items are resolved when they can be read.",
            "%(count)d deliveries are being read again; their items are resolved when they can be read.",
            len(replayed),
        ) % {"count": len(replayed)}, messages.SUCCESS)
