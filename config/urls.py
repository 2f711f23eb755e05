from __future__ import annotations

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from inbox.i18n import language_set
from inbox.security import views as security_views
from inbox.views import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="inbox:queue", permanent=False)),
    path("healthz", healthz, name="healthz"),
    # Sign-in, the second factor, signing out, the Security page: inbox/security/.
    path("login/", security_views.SignInView.as_view(), name="login"),
    path("logout/", security_views.SignOutView.as_view(), name="logout"),
    path("signed-out/", security_views.signed_out, name="signed_out"),
    path("account/security/", include("inbox.security.urls")),
    path("language/", language_set, name="language"),
    path("inbox/", include("inbox.urls")),
    # Service calendars, SLA policies (and the supervisors' dashboard): routing/urls.py.
    path("", include("routing.urls")),
    # Teams and people, automatic replies, presence: routing/team_urls.py.
    path("", include("routing.team_urls")),
    # The supervisors' dashboard: routing/dashboard_views.py (its API: routing/dashboard_api.py).
    path("dashboard/", include("routing.dashboard_urls")),
    # The audit trail, exports, legal holds, retention, data subjects: inbox/records/urls.py.
    path("records/", include("inbox.records.urls")),
    path("webhooks/", include("channels_adapters.urls")),
    path("channels/", include("channels_adapters.connect_urls")),
    # Citizens' pages of platform packages (the web contact form): channels_adapters/public_urls.py.
    path("", include("channels_adapters.public_urls")),
    path("api/v1/", include("inbox.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (no inline script); Swagger UI
    # styles its elements inline, so this page alone allows inline styles.
    path("api/docs/", csp_update({"style-src": ["'unsafe-inline'"]})(
        SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("admin/", admin.site.urls),
]
