"""Forms of the teams, people and automatic-replies pages (admins)."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from inbox.models import AutoReplySetting, SavedReply, Team
from inbox.permissions import OFFICER, SUPERVISOR

LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
ROLE_CHOICES = [(OFFICER, _("Officer")), (SUPERVISOR, _("Supervisor"))]


def _codes(value: str) -> list[str]:
    return [part.strip().lower() for part in re.split(r"[,\s]+", value or "") if part.strip()]


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "slug", "description", "assignment", "capacity_private", "capacity_public",
                  "reassign_after_minutes"]
        labels = {"name": _("Name"), "slug": _("Short name (in addresses and the API)"),
                  "description": _("What the team answers"), "assignment": _("Assignment")}
        help_texts = {"assignment": _("Manual: officers take conversations from the queue. Round robin: in turns "
                                      "among available officers. Least loaded: to the available officer with "
                                      "the fewest open conversations.")}
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        for name in ("capacity_private", "capacity_public", "reassign_after_minutes"):
            self.fields[name].widget.attrs["min"] = 0 if name == "reassign_after_minutes" else 1

    def clean_slug(self):
        return self.cleaned_data.get("slug") or slugify(self.cleaned_data.get("name", ""))[:60]

    def clean(self):
        data = super().clean()
        if data.get("reassign_after_minutes") == 0:
            data["reassign_after_minutes"] = None
        for name in ("capacity_private", "capacity_public"):
            if data.get(name) == 0:
                self.add_error(name, _("At least 1."))
        return data


class MemberAddForm(forms.Form):
    """Add a person to the team: someone who exists, or a new person, in one step."""

    existing = forms.ModelChoiceField(label=_("Person"), queryset=get_user_model().objects.none(), required=False,
                                      empty_label=_("— a new person —"))
    username = forms.CharField(label=_("New person's user name"), max_length=150, required=False)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    role = forms.ChoiceField(label=_("Role in the team"), choices=ROLE_CHOICES, initial=OFFICER)
    languages = forms.CharField(label=_("Languages"), required=False,
                                help_text=_("Language codes, e.g. ca, es, en"))

    def __init__(self, *args, exclude_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["existing"].queryset = (
            get_user_model().objects.filter(is_active=True).exclude(id__in=list(exclude_ids)).order_by("username")
        )
        self.fields["existing"].label_from_instance = lambda u: (
            f"{u.get_full_name()} ({u.get_username()})" if u.get_full_name() else u.get_username()
        )

    def clean_languages(self):
        return languages_clean(self.cleaned_data.get("languages", ""))

    def clean(self):
        data = super().clean()
        if not data.get("existing"):
            username = (data.get("username") or "").strip()
            if not username:
                raise ValidationError(_("Choose a person, or give the new person's user name."))
            if get_user_model().objects.filter(username__iexact=username).exists():
                self.add_error("username", _("This user name is taken."))
        return data


def languages_clean(value: str) -> list[str]:
    codes = _codes(value)
    bad = [c for c in codes if not LANGUAGE_CODE.match(c)]
    if bad:
        raise ValidationError(_("Not a language code: %(codes)s (use two letters, e.g. ca, es, en).")
                              % {"codes": ", ".join(bad)})
    return list(dict.fromkeys(codes))


class PersonForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    languages = forms.CharField(label=_("Languages"), required=False,
                                help_text=_("Language codes, e.g. ca, es, en: conversations in these languages "
                                            "go to this person first"))
    skills = forms.CharField(label=_("Skills"), required=False, help_text=_("Comma-separated, e.g. taxes, permits"))

    def clean_languages(self):
        return languages_clean(self.cleaned_data.get("languages", ""))

    def clean_skills(self):
        return list(dict.fromkeys(s.strip() for s in (self.cleaned_data.get("skills") or "").split(",") if s.strip()))


class MoveTeamForm(forms.Form):
    team = forms.ModelChoiceField(label=_("Move to team"), queryset=Team.objects.none(), to_field_name="slug")

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()


class AutoReplyForm(forms.ModelForm):
    class Meta:
        model = AutoReplySetting
        fields = ["acknowledgement", "out_of_hours", "delay_minutes", "period_hours"]
        labels = {"acknowledgement": _("First-contact acknowledgement"), "out_of_hours": _("Out-of-hours message")}
        help_texts = {
            "acknowledgement": _("Sent once when a citizen starts a conversation. Empty: none."),
            "out_of_hours": _("Sent when a citizen writes while the service is closed; {next_opening} in its "
                              "text becomes when it opens again. Empty: none."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One entry per saved reply: its versions in other languages are picked per citizen
        # (inbox.services.library.saved_reply_text).
        for name in ("acknowledgement", "out_of_hours"):
            self.fields[name].queryset = SavedReply.objects.order_by("title", "id")
            self.fields[name].empty_label = _("— none —")
        self.fields["period_hours"].widget.attrs["min"] = 1

    def clean_period_hours(self):
        value = self.cleaned_data["period_hours"]
        if not value:
            raise ValidationError(_("At least 1."))
        return value
