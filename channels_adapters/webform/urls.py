from __future__ import annotations

from django.urls import path

from channels_adapters.webform import views

urlpatterns = [
    path("connect/", views.connect, name="connect"),
    path("forms/<int:pk>/", views.settings_page, name="settings"),
]
