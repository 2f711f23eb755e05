"""``manage.py drf_create_token``, as Django REST framework ships it, for users who sign in
with a password only. A user who has or needs a second factor creates their token on their
Security page, in a session that gave it: the command refuses them. Every token it makes is
audited."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from rest_framework.authtoken.management.commands.drf_create_token import Command as DrfCommand

from inbox.security import services


class Command(DrfCommand):
    help = "Create an API token for a user who signs in without a second factor."

    def create_user_token(self, username, reset_token):
        user = get_user_model()._default_manager.get_by_natural_key(username)  # DoesNotExist: DRF says so
        if services.two_factor_required(user) or services.two_factor_enrolled(user):
            raise CommandError(
                f"{username} signs in with two-factor authentication: a token for them is created on their "
                "Security page (/account/security/), in a session that gave the second factor."
            )
        token = super().create_user_token(username, reset_token)
        services.audit_sign_in(None, "api_token.create", user, actor=None, via="command", reset=bool(reset_token))
        return token
