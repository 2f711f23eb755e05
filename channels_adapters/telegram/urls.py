from __future__ import annotations

from django.urls import path

from channels_adapters.telegram import views

urlpatterns = [
    path("connect/", views.connect, name="connect"),
    path("accounts/<int:pk>/mode/", views.mode, name="mode"),
    path("files/<str:bot_id>/<str:chat_id>/<int:message_id>/<str:unique_id>/", views.file, name="file"),
]
