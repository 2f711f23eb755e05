from __future__ import annotations

from django.urls import path

from channels_adapters.email import views

urlpatterns = [
    path("connect/", views.connect, name="connect"),
    path("messages/<str:address>/<str:key>/", views.message, name="message"),
    path("messages/<str:address>/<str:key>/parts/<int:index>/", views.part, name="part"),
]
