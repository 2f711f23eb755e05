"""Forms of the officer UI: they parse and validate input; the services do the work."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.models import Conversation, platform_choices
from inbox.selectors import QueueFilter

QUEUE_VIEWS = (("mine", _("Mine")), ("team", _("My teams")), ("unassigned", _("Unassigned")))
STATUS_FILTER_CHOICES = [("active", _("Active")), ("all", _("All")), *Conversation.Status.choices]
QUEUE_ORDERINGS = (("recent", _("Newest activity first")), ("due", _("Due soonest first")))
SLA_FILTER_CHOICES = (("", _("Any")), ("at_risk", _("At risk")), ("breached", _("Breached")))

# What an officer may set from the conversation page (new and snoozed are set by the system).
STATUS_ACTIONS = {
    Conversation.Status.OPEN: _("Reopen"),
    Conversation.Status.PENDING: _("Mark pending"),
    Conversation.Status.RESOLVED: _("Resolve"),
    Conversation.Status.SPAM: _("Mark as spam"),
}


class QueueFilterForm(forms.Form):
    """The queue's query string. Invalid values fall back to the defaults, never to an error."""

    view = forms.ChoiceField(choices=QUEUE_VIEWS, required=False)
    team = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label=_("Team"))
    status = forms.ChoiceField(choices=STATUS_FILTER_CHOICES, required=False, label=_("Status"))
    platform = forms.ChoiceField(required=False, label=_("Platform"))
    # Sorted by the SLA's due time and narrowed to what needs attention (issue 9).
    ordering = forms.ChoiceField(choices=QUEUE_ORDERINGS, required=False, label=_("Sort"))
    sla = forms.ChoiceField(choices=SLA_FILTER_CHOICES, required=False, label=_("Response time"))
    before = forms.CharField(required=False, max_length=100)

    def __init__(self, data, *, teams, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["team"].choices = [("", _("All my teams")), *((t.id, t.name) for t in teams)]
        self.fields["platform"].choices = [("", _("All platforms")), *platform_choices()]

    def queue_filter(self) -> QueueFilter:
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
        # A field that failed validation is absent from cleaned_data: use its default.
        return QueueFilter(
            view=data.get("view", "team"),
            team_id=data.get("team"),
            status=data.get("status", "active"),
            platform=data.get("platform", ""),
            before=data.get("before", ""),
            ordering=data.get("ordering", "recent"),
            sla=data.get("sla", ""),
        )


class ReplyForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea, strip=False, required=False, label=_("Reply"))
    option = forms.CharField(max_length=40)
    client_token = forms.CharField(max_length=64, required=False)
    confirm_public = forms.BooleanField(required=False)
    # The newest message the officer was shown while writing; the server refuses to send if
    # the citizen or a colleague spoke after it (see message_reply_collisions_check).
    last_seen_message_id = forms.IntegerField(required=False, min_value=0)
    # The saved reply the text was inserted from (a holding reply meets the first response as
    # "holding": docs/sla.md); cleared by the composer when the officer empties the text.
    saved_reply = forms.IntegerField(required=False, min_value=1)


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea, label=_("Internal note"), max_length=10_000)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=list(STATUS_ACTIONS.items()))


class AssignForm(forms.Form):
    """A supervisor's choice: an officer of the team by id, or empty for unassigned.

    Officers taking a conversation themselves post ``assignee=me`` instead (see the view).
    """

    assignee = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)

    def __init__(self, data, *, officers, **kwargs):
        super().__init__(data, **kwargs)
        self.officers = {u.id: u for u in officers}
        self.fields["assignee"].choices = [("", "Unassigned"), *((u.id, _user_label(u)) for u in officers)]


def _user_label(user) -> str:
    return user.get_full_name() or user.get_username()
