"""The top bar's link to the reply library, for those who manage it."""

from __future__ import annotations

from django import template

from inbox.services.library import can_manage_library

register = template.Library()


@register.simple_tag
def library_link(user) -> bool:
    return bool(user.is_authenticated and can_manage_library(user))
