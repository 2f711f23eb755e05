from __future__ import annotations

from django.urls import path

from inbox import approvals_views, library_views, people_views, views

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
    # The reply library (inbox/library_views.py, docs/library.md) and the composer's search.
    path("library/", library_views.library_list, name="library"),
    path("library/new/", library_views.library_edit, name="library-new"),
    path("library/<int:pk>/", library_views.library_edit, name="library-edit"),
    path("library/<int:pk>/delete/", library_views.library_delete, name="library-delete"),
    path("c/<int:pk>/saved-replies/", library_views.composer_search, name="composer-saved-search"),
    path("c/<int:pk>/saved-replies/<int:saved_id>/text/", library_views.composer_text, name="composer-saved-text"),
    # One citizen across channels (inbox/people_views.py, docs/people.md).
    path("c/<int:pk>/link/", people_views.contact_link_view, name="person-link"),
    path("people/<int:pk>/notes/", people_views.person_notes_view, name="person-notes"),
    path("people/links/<int:pk>/undo/", people_views.person_link_undo_view, name="person-link-undo"),
    # Replies held for a supervisor's approval: inbox/approvals_views.py, docs/approvals.md.
    path("approvals/", approvals_views.approvals_queue, name="approvals"),
    path("approvals/<int:pk>/", approvals_views.approval_decide, name="approval-decide"),
    path("drafts/<int:pk>/withdraw/", approvals_views.draft_withdraw, name="draft-withdraw"),
]
