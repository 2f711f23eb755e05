"""Query-string filters of the conversation list. They only narrow a queryset that already
starts from ``conversations_for_user``: no filter can widen what a user sees."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from rest_framework.filters import OrderingFilter

from inbox.limits import STATUS_FILTER_CHOICES, status_filter_q
from inbox.models import Conversation
from inbox.selectors import conversation_search_q

# The queue's choices (inbox/limits.py): `active` is what the queue lists, `all` every status.
STATUS_CHOICES = STATUS_FILTER_CHOICES


class ConversationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, method="filter_status")
    team = django_filters.CharFilter(method="filter_team", help_text="A team id or slug.")
    assignee = django_filters.CharFilter(
        method="filter_assignee", help_text="A user id, `me` or `none` (unassigned)."
    )
    platform = django_filters.CharFilter(field_name="account__platform")
    kind = django_filters.ChoiceFilter(choices=Conversation.Kind.choices)
    search = django_filters.CharFilter(
        method="filter_search",
        help_text="What the queue's search box finds: the citizen's name or handle, text in the subject or in "
                  "any message to or from the citizen (3 characters at least), or a reference (`#123`).",
    )
    sla = django_filters.ChoiceFilter(
        choices=[("at_risk", "At risk"), ("breached", "Breached")], field_name="sla_state",
        help_text="Conversations whose current response target is at risk (a warning passed) or breached.",
    )

    class Meta:
        model = Conversation
        fields = ["status", "team", "assignee", "platform", "kind", "search", "sla"]

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(status_filter_q(value))

    def filter_team(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if value.isdigit():
            return queryset.filter(team_id=int(value))
        return queryset.filter(team__slug=value)

    def filter_assignee(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip().lower()
        if value == "me":
            return queryset.filter(assignee=self.request.user)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset.none()

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        # The queue's own definition (inbox/selectors.py): IN (subquery), no join, no DISTINCT
        # to fight the cursor ordering. Notes are internal and not searched.
        return queryset.filter(conversation_search_q(value))


class ConversationOrdering(OrderingFilter):
    """``?ordering=sla_due_at``: most urgent first (the current target's due time, then id);
    the default is newest citizen activity first. The cursor pagination reads the ordering
    from here. A cursor cannot stand on a NULL, so ordering by due time lists only the
    conversations that have a running target (the queue page lists the others after them)."""

    ordering_fields = ["sla_due_at", "last_inbound_at"]
    ordering_description = "`sla_due_at` (most urgent first) or `-last_inbound_at` (the default)."
    ORDERINGS = {
        "sla_due_at": ("sla_due_at", "id"),
        "last_inbound_at": ("last_inbound_at", "id"),
        "-last_inbound_at": ("-last_inbound_at", "-id"),
    }
    DEFAULT = ("-last_inbound_at", "-id")

    def get_ordering(self, request, queryset, view):
        return self.ORDERINGS.get(request.query_params.get(self.ordering_param, "").strip(), self.DEFAULT)

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if ordering[0] == "sla_due_at":
            queryset = queryset.filter(sla_due_at__isnull=False)
        return queryset.order_by(*ordering)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for param in params:
            param["schema"] = {"type": "string", "enum": list(self.ORDERINGS)}
        return params
