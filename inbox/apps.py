from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Inbox")

    def ready(self) -> None:
        # The login hook that restores a user's chosen interface language.
        from inbox import i18n  # noqa: F401

        # Changes made in Django's admin site are copied to the audit trail.
        from inbox.records import admin_audit  # noqa: F401
