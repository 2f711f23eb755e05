from __future__ import annotations

from django.urls import path

from inbox.security import views

app_name = "security"

urlpatterns = [
    path("", views.security_page, name="page"),
    path("two-factor/setup/", views.two_factor_setup, name="setup"),
    path("two-factor/qr.svg", views.two_factor_qr, name="qr"),
    path("two-factor/verify/", views.two_factor_verify_view, name="verify"),
    path("two-factor/recovery-codes/", views.recovery_codes_shown, name="recovery_codes_shown"),
    path("two-factor/recovery-codes/new/", views.recovery_codes_new, name="recovery_codes_new"),
    path("two-factor/disable/", views.two_factor_disable_view, name="disable"),
    path("api-token/", views.api_token_view, name="api_token"),
    path("settings/", views.security_settings_view, name="settings"),
]
