from __future__ import annotations

from django.urls import path

from channels_adapters.meta import views

urlpatterns = [
    path("connect/", views.connect, name="connect"),
    path("messages/<int:pk>/hide/", views.message_hide, name="message_hide"),
]
