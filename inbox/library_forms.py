"""Forms of the reply library (inbox/library_views.py): a saved reply and its versions."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from inbox.models import SavedReply, Team
from inbox.services.library import VARIABLES


def language_choices(blank_label=None) -> list[tuple[str, str]]:
    """The interface's languages (settings.LANGUAGES) are the ones replies are written in."""
    choices = [(code.split("-")[0], name) for code, name in settings.LANGUAGES]
    return ([("", blank_label)] if blank_label is not None else []) + choices


def variables_help() -> str:
    return _("Variables, filled in when the reply is inserted: %(variables)s.") % {
        "variables": ", ".join(f"{{{name}}} ({label})" for name, label in VARIABLES.items()),
    }


class SavedReplyForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=SavedReply.Kind.choices, initial=SavedReply.Kind.OTHER)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    language = forms.ChoiceField(label=_("Language of the main text"), required=False)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 5, "dir": "auto"}))

    def __init__(self, *args, teams, all_teams_allowed: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        self.fields["team"].empty_label = _("All teams") if all_teams_allowed else None
        self.fields["team"].required = not all_teams_allowed
        self.fields["language"].choices = language_choices(_("Any language"))
        self.fields["body"].help_text = variables_help()


class VersionForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), required=False)
    body = forms.CharField(label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 3, "dir": "auto"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = language_choices("—")


VersionFormSet = formset_factory(VersionForm, extra=2, max_num=12)


class LibraryFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False)
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    language = forms.ChoiceField(label=_("Language"), required=False)
    team = forms.ChoiceField(label=_("Team"), required=False)

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("All kinds")), *SavedReply.Kind.choices]
        self.fields["language"].choices = language_choices(_("All languages"))
        self.fields["team"].choices = [("", _("All")), ("global", _("All teams (shared)")),
                                       *((str(t.pk), t.name) for t in teams)]
