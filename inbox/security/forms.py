from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"), max_length=20, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "none",
                                      "spellcheck": "false", "autofocus": True}),
    )


class SecuritySettingsForm(forms.Form):
    two_factor_for_everyone = forms.BooleanField(
        label=_("Require two-factor sign-in for everyone, officers included"), required=False,
        help_text=_("Admins and supervisors always sign in with a second factor. Officers without one "
                    "are asked to set it up at their next sign-in."),
    )
