from __future__ import annotations

from django.urls import path

from channels_adapters.webhooks import webhook

app_name = "webhooks"

urlpatterns = [
    path("<slug:slug>/", webhook, name="receive"),
]
