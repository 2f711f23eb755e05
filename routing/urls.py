from __future__ import annotations

from django.urls import path

from routing import rules_views, take, views

app_name = "routing"

urlpatterns = [
    # Service calendars and SLA policies (admins write, supervisors read).
    path("calendars/", views.calendar_list, name="calendars"),
    path("calendars/new/", views.calendar_edit, name="calendar_new"),
    path("calendars/new/preview/", views.calendar_preview, name="calendar_new_preview"),
    path("calendars/regions/", views.calendar_regions, name="calendar_regions"),
    path("calendars/<int:pk>/", views.calendar_edit, name="calendar"),
    path("calendars/<int:pk>/preview/", views.calendar_preview, name="calendar_preview"),
    path("calendars/<int:pk>/accounts/", views.calendar_accounts, name="calendar_accounts"),
    path("sla-policies/", views.policy_list, name="policies"),
    path("sla-policies/new/", views.policy_edit, name="policy_new"),
    path("sla-policies/<int:pk>/", views.policy_edit, name="policy"),
    # Routing rules (admins write, supervisors read): routing/rules_views.py, docs/routing.md.
    path("routing-rules/", rules_views.rule_list, name="rules"),
    path("routing-rules/new/", rules_views.rule_edit, name="rule_new"),
    path("routing-rules/<int:pk>/", rules_views.rule_edit, name="rule"),
    path("routing-rules/<int:pk>/action/", rules_views.rule_action, name="rule_action"),
    # "Take" (assign to me, if nobody holds it): routing/take.py.
    path("conversations/<int:pk>/take/", take.conversation_take_view, name="conversation_take"),
]
