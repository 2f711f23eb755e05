from __future__ import annotations

from django import forms

from inbox.models import Team


class ConnectPageForm(forms.Form):
    page_access_token = forms.CharField(
        label="Page access token (long-lived)", widget=forms.PasswordInput(render_value=False),
        max_length=1000, strip=True,
        help_text="A Page token obtained from a long-lived user token; it does not expire.",
    )
    default_team = forms.ModelChoiceField(
        queryset=Team.objects.all(), required=False,
        help_text="Conversations that no routing rule places go to this team.",
    )


class HideCommentForm(forms.Form):
    reason = forms.CharField(
        label="Reason (kept in the audit log)", max_length=500, strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
