from __future__ import annotations

from django import forms


class OAuth1TokensForm(forms.Form):
    """OAuth 1.0a user tokens generated for the account in the X developer console."""

    access_token = forms.CharField(max_length=200, strip=True)
    access_token_secret = forms.CharField(max_length=200, strip=True, widget=forms.PasswordInput(render_value=False))

    def clean_access_token(self) -> str:
        value = self.cleaned_data["access_token"]
        # X's user access tokens start with the user's numeric id and a dash.
        if "-" not in value or not value.split("-", 1)[0].isdigit():
            raise forms.ValidationError("This does not look like an X access token (it starts with the account's numeric id and a dash).")
        return value
