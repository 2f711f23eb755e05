from __future__ import annotations

from django.urls import path

from inbox import approvals_views, views

app_name = "inbox"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("c/<int:pk>/", views.conversation_detail, name="conversation"),
    path("c/<int:pk>/reply/", views.conversation_reply, name="reply"),
    path("c/<int:pk>/note/", views.conversation_note, name="note"),
    path("c/<int:pk>/status/", views.conversation_status, name="status"),
    path("c/<int:pk>/assign/", views.conversation_assign_view, name="assign"),
    path("c/<int:pk>/snooze/", views.conversation_snooze_view, name="snooze"),
    path("c/<int:pk>/priority/", views.conversation_priority_view, name="priority"),
    path("c/<int:pk>/tags/", views.conversation_tags_view, name="tags"),
    path("bulk/", views.queue_bulk, name="bulk"),
    # Replies held for a supervisor's approval: inbox/approvals_views.py, docs/approvals.md.
    path("approvals/", approvals_views.approvals_queue, name="approvals"),
    path("approvals/<int:pk>/", approvals_views.approval_decide, name="approval-decide"),
    path("drafts/<int:pk>/withdraw/", approvals_views.draft_withdraw, name="draft-withdraw"),
]
