from __future__ import annotations

from django.urls import path

from inbox import views

app_name = "inbox"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("c/<int:pk>/", views.conversation_detail, name="conversation"),
    path("c/<int:pk>/reply/", views.conversation_reply, name="reply"),
    path("c/<int:pk>/note/", views.conversation_note, name="note"),
    path("c/<int:pk>/status/", views.conversation_status, name="status"),
    path("c/<int:pk>/assign/", views.conversation_assign_view, name="assign"),
]
