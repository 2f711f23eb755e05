from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from inbox.api import approvals, library, notifications, views
from routing import api as routing_api
from routing import rules_api, team_api
from routing.dashboard_api import DashboardView
from routing.take import ConversationTakeView

app_name = "api"

router = SimpleRouter()
router.register("conversations", views.ConversationViewSet, basename="conversation")
# Replies held for a supervisor's approval (inbox/api/approvals.py, docs/approvals.md).
router.register("approvals", approvals.ApprovalViewSet, basename="approval")
# Tags (everyone reads; admins write, including requires_approval): inbox/api/views.py.
router.register("tags", views.TagViewSet, basename="tag")
# The reply library (inbox/api/library.py, docs/library.md).
router.register("saved-replies", library.SavedReplyViewSet, basename="savedreply")
# Routing's API (service calendars, SLA policies): routing/api.py, docs/sla.md.
router.register("service-calendars", routing_api.ServiceCalendarViewSet, basename="servicecalendar")
router.register("sla-policies", routing_api.SlaPolicyViewSet, basename="slapolicy")
# Routing rules (routing/rules_api.py, docs/routing.md).
router.register("routing-rules", rules_api.RoutingRuleViewSet, basename="routingrule")

urlpatterns = [
    path("conversations/<int:pk>/messages/", views.ConversationMessagesView.as_view(), name="conversation-messages"),
    # "Take" (assign to me, if nobody holds it; 409 when taken): routing/take.py.
    path("conversations/<int:pk>/take/", ConversationTakeView.as_view(), name="conversation-take"),
    path("teams/", views.TeamListView.as_view(), name="team-list"),
    # A team's assignment settings, the caller's presence: routing/team_api.py.
    path("teams/<slug:slug>/", team_api.TeamDetailView.as_view(), name="team-detail"),
    path("presence/", team_api.PresenceView.as_view(), name="presence"),
    path("channel-accounts/", views.ChannelAccountListView.as_view(), name="channelaccount-list"),
    path("channel-accounts/<int:pk>/", routing_api.ChannelAccountCalendarView.as_view(), name="channelaccount-calendar"),
    # Which replies through the account wait for approval (docs/approvals.md): admins write.
    path("channel-accounts/<int:pk>/approval/", views.ChannelAccountApprovalView.as_view(),
         name="channelaccount-approval"),
    # The caller's own notifications (inbox/api/notifications.py, docs/working-faster.md).
    path("notifications/", notifications.NotificationListView.as_view(), name="notification-list"),
    path("notifications/read/", notifications.NotificationReadView.as_view(), name="notification-read"),
    # The supervisor's dashboard (routing/dashboard_api.py, docs/sla.md).
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    *router.urls,
]
