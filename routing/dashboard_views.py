"""The supervisor's dashboard page (``/dashboard/``): tiles, the about-to-breach list with
one click to open or reassign, charts (server-side SVG: routing/charts.py), the tables and
their CSV links. ``?fragment=1`` renders only the part that the live refresh replaces
(static/js/dashboard.js: on a push from the inbox's WebSocket, or every 30 s).

Figures: ``routing.dashboard`` (the API, ``/api/v1/dashboard/``, serves the same ones).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils import dateformat, formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from routing import charts
from routing.dashboard import (
    PERIOD_LABELS,
    PERIODS,
    TABLE_NAMES,
    csv_value,
    dashboard_figures,
    dashboard_scope,
    dashboard_tables,
)

# Tables the page shows as tables (the summary and the lists are drawn as tiles and rows).
PAGE_TABLES = ("officers", "attainment_by_team", "attainment_by_channel", "distribution", "volume")


def _display(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return csv_value(value)


def _table_body(table) -> SafeString:
    """The rows of a table, each cell with its CSV value in ``data-value`` (the tests compare
    them with the CSV). Built here rather than in a template loop: it is most of the page's
    cells, and a template loop cost several times more."""
    if not table.rows:
        return format_html('<tr><td colspan="{}" class="muted">{}</td></tr>', len(table.columns),
                           _("Nothing in this period."))
    out = []
    for row in table.rows:
        cells = []
        for index, (key, _heading) in enumerate(table.columns):
            value = row.get(key)
            if index == 0:
                cells.append(format_html('<th scope="row" data-key="{}" data-value="{}"><bdi>{}</bdi></th>',
                                         key, csv_value(value), _display(value)))
            else:
                cells.append(format_html('<td data-key="{}" data-value="{}">{}</td>', key, csv_value(value),
                                         _display(value)))
        out.append(mark_safe("<tr>" + "".join(cells) + "</tr>"))  # noqa: S308 - cells are format_html'd
    return mark_safe("".join(out))  # noqa: S308


def _list_rows(key: str, items, request, scope) -> SafeString:
    """The rows of an about-to-breach or breached list, with the one-click reassign form: the
    same markup the template loop wrote, built here (forty rows of forms, links, dates and
    selects were a third of the page's time). Every value is escaped by ``format_html``."""
    csrf = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request))
    # One reverse() per list, not two per row.
    conversation_url = reverse("inbox:conversation", args=[987654321]).replace("987654321", "{id}")
    assign_url = reverse("inbox:assign", args=[987654321]).replace("987654321", "{id}")
    labels = {"at_risk": _("at risk"), "breached": _("breached")}
    out = []
    for c in items:
        due = timezone.localtime(c.sla_due_at) if c.sla_due_at else None
        if due is None:
            when = ""
        elif c.sla_state == "breached":
            when = _("%(since)s ago") % {"since": timesince(c.sla_due_at, scope.now)}
        else:
            when = _("in %(until)s") % {"until": timeuntil(c.sla_due_at, scope.now)}
        badge = format_html(' <span class="sla-badge sla-{}">{}</span>', c.sla_state.replace("_", "-"),
                            labels[c.sla_state]) if c.sla_state in labels else ""
        assignee = (
            format_html("{}", c.assignee.get_full_name() or c.assignee.get_username()) if c.assignee
            else format_html('<span class="muted">{}</span>', _("Unassigned"))
        )
        options = [format_html('<option value="">{}</option>', _("Unassigned"))] + [
            format_html('<option value="{}"{}>{}</option>', officer["id"],
                        mark_safe(" selected") if officer["id"] == c.assignee_id else "", officer["name"])
            for officer in c.dash_officers
        ]
        label = _("Reassign conversation #%(id)s to") % {"id": c.id}
        out.append(format_html(
            '<tr data-conversation="{id}" class="sla-{state}">'
            '<td class="nowrap"><time datetime="{iso}">{short}</time><div class="muted small">{when}</div></td>'
            '<td><a href="{href}">#{id} <bdi>{subject}</bdi></a>{badge}</td>'
            "<td>{team}</td><td><bdi>{account}</bdi></td><td>{assignee}</td>"
            '<td><form method="post" action="{action}" class="dash-reassign" data-dash-reassign>{csrf}'
            '<label class="sr-only" for="reassign-{key}-{id}">{label}</label>'
            '<select id="reassign-{key}-{id}" name="assignee">{options}</select>'
            '<button type="submit" class="btn btn-sm">{button}</button></form></td></tr>',
            id=c.id, state=c.sla_state, iso=dateformat.format(due, "c") if due else "",
            short=formats.date_format(due, "D H:i") if due else "", when=when,
            href=conversation_url.format(id=c.id), subject=Truncator(c.subject or _("(no text)")).chars(70),
            badge=badge, team=c.team.name if c.team else "—", account=c.account.name, assignee=assignee,
            action=assign_url.format(id=c.id), csrf=csrf, key=key, label=label,
            options=mark_safe("".join(options)), button=_("Reassign"),  # noqa: S308 - each option format_html'd
        ))
    return mark_safe("".join(out))  # noqa: S308 - rows are format_html'd


def _table_context(table, csv_url: str) -> dict:
    return {
        "name": table.name, "title": table.title, "csv_url": csv_url,
        "headings": [heading for _key, heading in table.columns], "body": _table_body(table),
    }


@login_required
@require_GET
@never_cache
def dashboard(request):
    scope = dashboard_scope(
        request.user, team=request.GET.get("team"), account=request.GET.get("account"),
        period=request.GET.get("period"),
    )
    figures = dashboard_figures(scope)
    tables = dashboard_tables(figures)
    query = {"period": scope.period}
    if scope.team:
        query["team"] = scope.team.slug
    if scope.account:
        query["account"] = scope.account.id
    api = reverse("api:dashboard")

    def csv_url(name: str | None = None) -> str:
        return f"{api}?{urlencode({**query, 'format': 'csv', **({'table': name} if name else {})})}"

    names = {o.id: o.name for o in figures.officers}
    officers_by_team = {
        team_id: sorted(({"id": i, "name": names.get(i, f"#{i}")} for i in set(ids)), key=lambda o: o["name"].lower())
        for team_id, ids in figures.officers_by_team.items()
    }
    for conversation in (*figures.about_to_breach, *figures.breached_list):
        conversation.dash_officers = officers_by_team.get(conversation.team_id, [])
    period_label = str(PERIOD_LABELS[scope.period])
    context = {
        "scope": scope,
        "figures": figures,
        "periods": [(key, PERIOD_LABELS[key]) for key in PERIODS],
        "period_label": period_label,
        "tables": {name: _table_context(tables[name], csv_url(name)) for name in PAGE_TABLES},
        "csv_links": [(name, tables[name].title, csv_url(name)) for name in TABLE_NAMES],
        "csv_all": csv_url(),
        "json_url": f"{api}?{urlencode(query)}",
        "lists": [
            (key, title, items, _list_rows(key, items, request, scope))
            for key, title, items in (
                ("breached", _("Breached — act now"), figures.breached_list),
                ("about_to_breach", _("About to breach"), figures.about_to_breach),
            )
        ],
        "charts": {
            "volume": charts.volume_chart(figures.volume, period_label=period_label),
            "distribution": charts.distribution_chart(figures.distribution, figures.total.closed_without_response),
            "by_team": charts.attainment_chart(figures.by_team, prefix="chart-team",
                                               title=_("Answered within target, by team")),
            "by_channel": charts.attainment_chart(figures.by_channel, prefix="chart-channel",
                                                  title=_("Answered within target, by channel")),
        },
        "fragment_url": f"{reverse('dashboard:page')}?{urlencode({**query, 'fragment': 1})}",
    }
    template = "routing/_dashboard_live.html" if request.GET.get("fragment") else "routing/dashboard.html"
    return render(request, template, context)
