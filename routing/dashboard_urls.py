from __future__ import annotations

from django.urls import path

from routing import dashboard_views

app_name = "dashboard"

urlpatterns = [
    path("", dashboard_views.dashboard, name="page"),
]
