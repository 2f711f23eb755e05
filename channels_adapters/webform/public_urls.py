"""Mounted at /contact/ (``WebformAdapter.public_url_prefix``) by channels_adapters/public_urls.py."""

from __future__ import annotations

from django.urls import path

from channels_adapters.webform import views

urlpatterns = [
    path("<slug:slug>/", views.contact, name="contact"),
    path("<slug:slug>/sent/", views.sent, name="sent"),
]
