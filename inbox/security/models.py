from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SecuritySettings(models.Model):
    """The site's sign-in policy, one row, edited by admins on the Security settings page."""

    two_factor_for_everyone = models.BooleanField(
        _("require two-factor sign-in for everyone"), default=False,
        help_text=_("Admins and supervisors always need it; this asks it of officers too."),
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("security settings")
        verbose_name_plural = _("security settings")

    def __str__(self) -> str:
        return str(_("Security settings"))

    @classmethod
    def current(cls) -> SecuritySettings:
        return cls.objects.order_by("id").first() or cls()
