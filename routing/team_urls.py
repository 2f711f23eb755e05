"""Teams and people, automatic replies, presence, moving a conversation (routing/team_views.py)."""

from __future__ import annotations

from django.urls import path

from routing import team_views as views

app_name = "teams"

urlpatterns = [
    path("teams/", views.team_list, name="teams"),
    path("teams/new/", views.team_edit, name="team_new"),
    path("teams/<slug:slug>/", views.team_edit, name="team"),
    path("teams/<slug:slug>/members/", views.team_member_add, name="member_add"),
    path("teams/<slug:slug>/members/<int:user_id>/remove/", views.team_member_remove, name="member_remove"),
    path("people/", views.people_list, name="people"),
    path("people/<int:pk>/", views.person_edit, name="person"),
    path("people/<int:pk>/active/", views.person_active_set, name="person_active"),
    path("automatic-replies/", views.autoreply_list, name="autoreplies"),
    path("automatic-replies/<int:account_id>/", views.autoreply_edit, name="autoreply"),
    path("presence/", views.presence_view, name="presence"),
    path("presence/heartbeat/", views.heartbeat_view, name="heartbeat"),
    path("conversations/<int:pk>/move/", views.conversation_move, name="move"),
]
