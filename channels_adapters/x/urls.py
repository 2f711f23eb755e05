from __future__ import annotations

from django.urls import path

from channels_adapters.x import views

urlpatterns = [
    path("", views.accounts, name="accounts"),
    path("connect/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("tokens/", views.oauth1_tokens, name="oauth1"),
]
