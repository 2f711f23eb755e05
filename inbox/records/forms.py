"""Forms of the public record's pages: they parse and validate; the services do the work."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.models import ChannelAccount
from inbox.records.audit_trail import TrailFilter
from inbox.records.retention import LEGAL_BASES

TARGET_TYPES = (
    ("", _("Any object")),
    ("inbox.conversation", _("Conversation")),
    ("inbox.team", _("Team")),
    ("auth.user", _("User")),
    ("inbox.person", _("Person")),
    ("inbox.channelaccount", _("Channel account")),
    ("inbox.recordexport", _("Export")),
    ("routing.routingrule", _("Routing rule")),
    ("routing.servicecalendar", _("Service calendar")),
    ("routing.slapolicy", _("SLA policy")),
    ("inbox.retentionrun", _("Retention run")),
)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class TrailFilterForm(forms.Form):
    """The trail's query string; an invalid value is ignored, never an error page."""

    person = forms.CharField(label=_("Person (user name, or “system”)"), required=False, max_length=150)
    target_type = forms.ChoiceField(label=_("Object"), choices=TARGET_TYPES, required=False)
    target_id = forms.CharField(label=_("Object id"), required=False, max_length=60)
    verb = forms.CharField(label=_("Action"), required=False, max_length=60,
                           help_text=_("Exact, or a prefix ending in a dot: “conversation.”"))
    date_from = forms.DateField(label=_("From"), required=False, widget=DateInput())
    date_to = forms.DateField(label=_("To"), required=False, widget=DateInput())
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput())

    def trail_filter(self) -> TrailFilter:
        data = self.cleaned_data if self.is_valid() else {
            k: v for k, v in self.cleaned_data.items() if k not in self.errors
        }
        return TrailFilter(
            person=(data.get("person") or "").strip(), target_type=data.get("target_type") or "",
            target_id=(data.get("target_id") or "").strip(), verb=(data.get("verb") or "").strip(),
            date_from=data.get("date_from"), date_to=data.get("date_to"), before=data.get("before"),
        )

    def query(self) -> dict:
        """The filter as a query string for the CSV link and the next page (without ``before``)."""
        f = self.trail_filter()
        return {k: v for k, v in {
            "person": f.person, "target_type": f.target_type, "target_id": f.target_id, "verb": f.verb,
            "date_from": f.date_from.isoformat() if f.date_from else "",
            "date_to": f.date_to.isoformat() if f.date_to else "",
        }.items() if v}


class ExportForm(forms.Form):
    """A freedom-of-information export: any of a period, an account, a conversation, a Person."""

    date_from = forms.DateField(label=_("From"), required=False, widget=DateInput())
    date_to = forms.DateField(label=_("To (included)"), required=False, widget=DateInput())
    account = forms.ModelChoiceField(label=_("Channel account"), required=False, queryset=ChannelAccount.objects.none(),
                                     empty_label=_("All accounts"))
    conversation = forms.IntegerField(label=_("Conversation number"), required=False, min_value=1)
    person = forms.IntegerField(label=_("Person number"), required=False, min_value=1)
    notes = forms.BooleanField(label=_("Include internal notes"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = ChannelAccount.objects.order_by("platform", "name")

    def clean(self):
        data = super().clean()
        if not any(data.get(k) for k in ("date_from", "date_to", "account", "conversation", "person")):
            raise forms.ValidationError(_("Choose a period, an account, a conversation or a person."))
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        return data

    def scope(self) -> dict:
        data = self.cleaned_data
        scope = {
            "date_from": data["date_from"].isoformat() if data.get("date_from") else None,
            "date_to": data["date_to"].isoformat() if data.get("date_to") else None,
            "account": data["account"].pk if data.get("account") else None,
            "conversation": data.get("conversation"), "person": data.get("person"),
            "notes": bool(data.get("notes")),
        }
        return {k: v for k, v in scope.items() if v not in (None, "")}


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class PersonSearchForm(forms.Form):
    q = forms.CharField(label=_("Name, handle or platform id"), required=False, max_length=200)


class PersonRemoveForm(forms.Form):
    ACTIONS = (("pseudonymise", _("Pseudonymise (stable tokens; statistics keep working)")),
               ("erase", _("Erase (the citizen's texts and identity removed)")))

    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS, widget=forms.RadioSelect)
    basis = forms.ChoiceField(label=_("Legal basis"), choices=[("", "—"), *LEGAL_BASES.items()])
    explanation = forms.CharField(label=_("Explanation (request reference, decision)"), max_length=2000,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    confirm = forms.BooleanField(label=_("I understand this cannot be undone"))


class RetentionPolicyForm(forms.Form):
    keep_months = forms.IntegerField(label=_("Keep for (months)"), required=False, min_value=1, max_value=1200,
                                     help_text=_("Empty: keep forever"))
