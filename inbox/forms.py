"""Forms of the officer UI: they parse and validate input; the services do the work."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox import limits
from inbox.models import Conversation, Tag, platform_choices
from inbox.selectors import QueueFilter

QUEUE_VIEWS = (("mine", _("Mine")), ("team", _("My teams")), ("unassigned", _("Unassigned")))
# The status filter and the statuses an officer may set are the API's (inbox/limits.py).
STATUS_FILTER_CHOICES = [("active", _("Active")), *limits.STATUS_FILTER_CHOICES[1:]]
QUEUE_ORDERINGS = (("recent", _("Newest activity first")), ("due", _("Due soonest first")))
SLA_FILTER_CHOICES = (("", _("Any")), ("at_risk", _("At risk")), ("breached", _("Breached")))

# What an officer may set from the conversation page (new is the ingest's; snoozed comes
# with a wake-up time, SnoozeForm).
STATUS_ACTIONS = limits.SETTABLE_STATUSES


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
    # The search box: the API's ?search= (inbox/selectors.py, conversation_search_q).
    q = forms.CharField(required=False, max_length=limits.SEARCH_MAX_LENGTH, label=_("Search"), strip=True)

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
            search=data.get("q", ""),
        )


class ReplyForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea, strip=False, required=False, label=_("Reply"),
                           max_length=limits.REPLY_MAX_LENGTH)
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
    text = forms.CharField(widget=forms.Textarea, label=_("Internal note"), max_length=limits.NOTE_MAX_LENGTH)


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


SNOOZE_CHOICES = (
    ("later_today", _("Later today (in 3 hours)")),
    ("tomorrow", _("Tomorrow at 8:00")),
    ("next_week", _("Next week (Monday at 8:00)")),
    ("custom", _("Choose a date and time")),
)


class SnoozeForm(forms.Form):
    """Until when: one of the choices, or a date and time in the account's calendar."""

    until = forms.ChoiceField(choices=SNOOZE_CHOICES, label=_("Snooze until"))
    custom = forms.DateTimeField(required=False, label=_("Date and time"),
                                 input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"])

    def clean(self):
        data = super().clean()
        if data.get("until") == "custom" and not data.get("custom"):
            self.add_error("custom", _("Choose the date and time to wake it."))
        return data


class PriorityForm(forms.Form):
    priority = forms.TypedChoiceField(choices=Conversation.Priority.choices, coerce=int, label=_("Priority"))


class TagsForm(forms.Form):
    """The conversation's tags, all at once (checkboxes of the existing tags)."""

    tags = forms.ModelMultipleChoiceField(queryset=Tag.objects.all(), required=False, label=_("Tags"))


class BulkForm(forms.Form):
    """A queue selection and what to do with it (inbox/services/bulk.py)."""

    ACTIONS = (
        ("assign", _("Assign")),
        ("tag", _("Add a tag")),
        ("resolve", _("Resolve")),
        ("spam", _("Mark as spam")),
        ("reply", _("Send a saved reply to each")),
    )
    action = forms.ChoiceField(choices=ACTIONS, label=_("Action"))
    conversations = forms.TypedMultipleChoiceField(coerce=int, label=_("Conversations"))
    assignee = forms.CharField(required=False, max_length=20, label=_("Assign to"))
    tag = forms.IntegerField(required=False, min_value=1, label=_("Tag"))
    saved_reply = forms.IntegerField(required=False, min_value=1, label=_("Saved reply"))
    # When the officer loaded the queue: a conversation that moved on since is held back.
    seen_at = forms.DateTimeField(required=False)
    bulk_token = forms.CharField(required=False, max_length=32)

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        # Any ids: the service finds them through conversations_for_user (others are "not found").
        ids = data.getlist("conversations") if hasattr(data, "getlist") else (data or {}).get("conversations", [])
        self.fields["conversations"].choices = [(i, i) for i in ids if str(i).isdigit()][: limits.BULK_MAX_CONVERSATIONS]

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "tag" and not data.get("tag"):
            self.add_error("tag", _("Choose a tag."))
        if action == "reply" and not data.get("saved_reply"):
            self.add_error("saved_reply", _("Choose a saved reply."))
        if action == "assign" and not data.get("assignee"):
            self.add_error("assignee", _("Choose who gets them."))
        return data
