"""The queue rows' per-row values, computed once per request in Python.

templates/inbox/_queue_list.html shows 50 rows; computed there, the sentences with a value
(``{% blocktranslate %}``), the dates, the links, the "Take" check and the tags cost ~2 ms a
row (docs/benchmarks.md, "Queue page"). Here each translated format string is fetched once
per request and filled with ``%`` and escaped values, as ``{% blocktranslate %}`` does
(same msgids, so the translations stand); the template only places the values.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from inbox.models import Conversation
from inbox.templatetags.inbox_ui import ago, first_response_overdue, platform_label, user_label
from routing.templatetags.routing_take import can_take
from routing.templatetags.routing_take import take_team_ids as take_team_ids_for
from routing.templatetags.routing_ui import due_short

_SENTINEL = 987654321987


def _url_parts(name: str) -> tuple[str, str]:
    """The URL of ``name`` for any id, as the text before and after the id."""
    prefix, _, suffix = reverse(name, args=[_SENTINEL]).partition(str(_SENTINEL))
    return prefix, suffix


def _local(value):
    """A datetime as the ``date`` filter sees it (in the current time zone)."""
    return timezone.localtime(value) if timezone.is_aware(value) else value


def _fill(template: str, **values) -> str:
    """``template % values`` with every value escaped, as ``{% blocktranslate %}`` renders."""
    return mark_safe(template % {k: conditional_escape(v) for k, v in values.items()})  # noqa: S308 - values escaped


def queue_rows_prepare(conversations: list[Conversation], user) -> None:
    """Set the ``row_*`` values the queue list shows on each conversation of a page."""
    if not conversations:
        return
    select_fmt = gettext("Select conversation #%(n)s (%(who)s)")
    woken_fmt = gettext("Back from snooze at %(when)s")
    until_fmt = gettext("until %(when)s")
    viewing_fmt = gettext("Open: %(names)s")
    typing_fmt = gettext("Writing: %(names)s")
    last_fmt = gettext("Last message from the citizen: %(when)s")
    no_text = gettext("(no text)")
    no_team = gettext("No team")
    open_prefix, open_suffix = _url_parts("inbox:conversation")
    take_prefix, take_suffix = _url_parts("routing:conversation_take")
    take_team_ids = take_team_ids_for(user)
    # get_FOO_display, translated once per request rather than once per row.
    labels = {name: {k: str(v) for k, v in Conversation._meta.get_field(name).flatchoices}
              for name in ("status", "kind", "priority")}
    platform_labels: dict[str, str] = {}
    for c in conversations:
        contact = c.contact
        who = contact.name or contact.handle or contact.external_id
        c.row_who = who
        c.row_select_label = _fill(select_fmt, n=c.id, who=who)
        c.row_url = f"{open_prefix}{c.id}{open_suffix}"
        c.row_overdue = first_response_overdue(c)
        c.row_subject = c.subject or no_text
        c.row_team = (c.team.name if c.team is not None else "") or no_team
        c.row_tags = list(c.tags.all())
        c.row_status_label = labels["status"].get(c.status, c.status)
        c.row_kind_label = labels["kind"].get(c.kind, c.kind)
        c.row_priority_label = labels["priority"].get(c.priority, c.priority)
        platform = c.account.platform
        if platform not in platform_labels:
            platform_labels[platform] = platform_label(platform)
        c.row_platform_label = platform_labels[platform]
        c.row_assignee_label = user_label(c.assignee) if c.assignee is not None else ""
        c.row_woken_title = (
            _fill(woken_fmt, when=dateformat.format(_local(c.woken_at), "j M Y, H:i")) if c.woken_at else ""
        )
        c.row_snoozed_until = (
            _fill(until_fmt, when=dateformat.format(_local(c.snoozed_until), "j M, H:i"))
            if c.status == "snoozed" and c.snoozed_until else ""
        )
        last = c.last_inbound_at
        if last is not None:
            local_last = _local(last)
            c.row_last_iso = dateformat.format(local_last, "c")
            c.row_last_title = _fill(last_fmt, when=dateformat.format(local_last, "j M Y, H:i"))
        else:
            c.row_last_iso = ""
            c.row_last_title = _fill(last_fmt, when="")
        c.row_ago = ago(last)
        due = c.sla_due_at
        if due is not None and c.status != "pending":
            local_due = _local(due)
            c.row_due_iso = dateformat.format(local_due, "c")
            c.row_due_short = due_short(local_due)
        else:
            c.row_due_iso = c.row_due_short = ""
        p = getattr(c, "presence", None)
        viewing = p.viewer_names if p else ""
        c.row_viewing = _fill(viewing_fmt, names=viewing) if viewing else ""
        c.row_typing = _fill(typing_fmt, names=p.typing_names) if p and p.typing else ""
        c.row_take_action = (
            f"{take_prefix}{c.id}{take_suffix}" if can_take(c, take_team_ids) else ""
        )
