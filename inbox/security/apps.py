from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SecurityConfig(AppConfig):
    name = "inbox.security"
    label = "security"
    verbose_name = _("Sign-in and security")
    default_auto_field = "django.db.models.BigAutoField"
