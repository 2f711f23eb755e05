"""Tokens in the Django admin: created only in a session that gave its second factor, and
never for a user who has or needs one (they create their own, verified, on their Security
page: a token made for them would skip their second factor). Every creation is audited."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from inbox.security import services


class TokenForm(forms.ModelForm):
    class Meta:
        model = TokenProxy
        fields = ("user",)

    def clean_user(self):
        user = self.cleaned_data["user"]
        if services.two_factor_required(user) or services.two_factor_enrolled(user):
            raise forms.ValidationError(_(
                "This person signs in with a second factor: they create their own token on their Security page."
            ))
        return user


class VerifiedTokenAdmin(TokenAdmin):
    form = TokenForm

    def has_add_permission(self, request):
        return super().has_add_permission(request) and services.api_token_may_create(request) and (
            services.session_verified(request.session)
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.audit_sign_in(request, "api_token.create", obj.user, actor=request.user, via="admin")


admin.site.unregister(TokenProxy)
admin.site.register(TokenProxy, VerifiedTokenAdmin)
