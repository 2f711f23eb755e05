from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from inbox.api import views

app_name = "api"

router = SimpleRouter()
router.register("conversations", views.ConversationViewSet, basename="conversation")

urlpatterns = [
    path("conversations/<int:pk>/messages/", views.ConversationMessagesView.as_view(), name="conversation-messages"),
    path("teams/", views.TeamListView.as_view(), name="team-list"),
    path("channel-accounts/", views.ChannelAccountListView.as_view(), name="channelaccount-list"),
    *router.urls,
]
