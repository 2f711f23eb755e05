from __future__ import annotations

import re

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from channels_adapters.webform import payloads
from channels_adapters.webform.config import origin_normalise
from inbox.models import ChannelAccount, Team

_PHONE = RegexValidator(r"^\+?[0-9 ()./-]{6,30}$", _("Enter a phone number: digits, spaces and a leading +."))
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])")


class ContactForm(forms.Form):
    """The citizen's form. Errors are tied to their fields for assistive technology
    (``aria-invalid``, ``aria-describedby``) by ``mark_errors``; the template lists them too."""

    name = forms.CharField(label=_("Your name"), max_length=200,
                           widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(label=_("E-mail address"), max_length=100, required=False,
                             widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}))
    phone = forms.CharField(label=_("Phone number (optional)"), max_length=30, required=False, validators=[_PHONE],
                            widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "type": "tel"}))
    message = forms.CharField(label=_("Your message"), max_length=payloads.MAX_MESSAGE,
                              widget=forms.Textarea(attrs={"rows": 8}))
    reply_by = forms.ChoiceField(
        label=_("How should we answer you?"), initial="email", widget=forms.RadioSelect,
        choices=[("email", _("By e-mail")),
                 ("inbox", _("Do not write to me: I will call or come back, quoting my reference number"))],
    )
    consent = forms.BooleanField(label=_("I agree"), required=True, error_messages={
        "required": _("Your message can only be kept with your agreement.")})
    # The honeypot: hidden from people and from the keyboard (see the template); bots fill it.
    hp_url = forms.CharField(required=False, label=_("Leave this field empty"),
                             widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}))
    token = forms.CharField(widget=forms.HiddenInput, required=False)
    pow = forms.CharField(widget=forms.HiddenInput, required=False)
    answer = forms.CharField(label=_("Your answer"), max_length=20, required=False,
                             widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))

    def clean(self):
        data = super().clean()
        if data.get("reply_by") == "email" and not data.get("email") and "email" not in self.errors:
            self.add_error("email", _("Enter your e-mail address, or choose not to be answered by e-mail."))
        return data

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["aria-describedby"] = f"{self['email'].auto_id}-hint"

    def mark_errors(self) -> None:
        """Each field with an error says so, and points at its message (WCAG 3.3.1, 1.3.1)."""
        for name in self.errors:
            if name in self.fields and name not in ("consent", "reply_by"):  # those two: in the template
                attrs = self.fields[name].widget.attrs
                described = " ".join(filter(None, [f"{self[name].auto_id}-error", attrs.get("aria-describedby", "")]))
                attrs.update({"aria-invalid": "true", "aria-describedby": described})


class ConnectForm(forms.Form):
    slug = forms.CharField(
        label=_("Address of the form"), max_length=50,
        help_text=_("Lower-case letters, digits and hyphens: the form will be at /contact/<address>/."),
    )
    name = forms.CharField(label=_("Name"), max_length=200,
                           help_text=_("Shown as the form's title, and in the inbox."))
    default_team = forms.ModelChoiceField(
        label=_("Default team"), queryset=Team.objects.all(), required=False,
        help_text=_("Conversations that no routing rule places go to this team."),
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].strip().lower()
        if not SLUG.fullmatch(slug):
            raise forms.ValidationError(_("Use 3 to 50 lower-case letters, digits and hyphens."))
        return slug


class SettingsForm(forms.Form):
    consent_text = forms.CharField(
        label=_("Consent text"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What the citizen agrees to (who keeps the message, why, for how long, where the privacy "
                    "notice is). Empty: a short default text."),
    )
    allowed_origins = forms.CharField(
        label=_("Sites that may embed the form"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One origin per line, such as https://www.example.org. Other sites cannot frame the form."),
    )
    answer_account = forms.ChoiceField(
        label=_("Answer by e-mail from"), required=False,
        help_text=_("The e-mail channel account that sends the answers. Without one, answers cannot be e-mailed."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["answer_account"].choices = [("", _("— none —"))] + [
            (a.external_id, str(a)) for a in ChannelAccount.objects.filter(platform="email").order_by("name")
        ]

    def clean_allowed_origins(self) -> list[str]:
        origins, bad = [], []
        for line in self.cleaned_data["allowed_origins"].split():
            try:
                origin = origin_normalise(line)
            except ValueError:
                bad.append(line)
            else:
                if origin not in origins:
                    origins.append(origin)
        if bad:
            raise forms.ValidationError(_("Not an origin (https://host or https://host:port): %(bad)s")
                                        % {"bad": ", ".join(bad[:3])})
        return origins
