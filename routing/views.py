"""Pages of the routing app.

Service calendars and SLA policies: admins write, supervisors read (as the API does:
``routing/api.py``); anyone else gets a 403. Views parse, call one service, render.
"""

from __future__ import annotations

import copy

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inbox.api.permissions import sees_channel_accounts
from inbox.models import ChannelAccount
from inbox.permissions import can_manage_channels
from routing.calendar_preview import due_preview
from routing.calendars import CalendarError, calendar_for
from routing.forms import (
    AccountCalendarForm,
    PreviewForm,
    ServiceCalendarForm,
    SlaPolicyForm,
    subdivision_choices,
)
from routing.models import ServiceCalendar, SlaPolicy
from routing.services import channel_account_calendar_set, service_calendar_save, sla_policy_save

# --- Service calendars and SLA policies (admins write, supervisors read) ---------------------


def _may_read(user) -> bool:
    return can_manage_channels(user) or sees_channel_accounts(user)


def _check(request, *, write: bool = False) -> bool:
    """403 for those who may not read; for writes, admins only. Returns "may write"."""
    may_write = can_manage_channels(request.user)
    if not (may_write or _may_read(request.user)) or (write and not may_write):
        raise PermissionDenied
    return may_write


@login_required
@require_GET
def calendar_list(request):
    may_write = _check(request)
    calendars = (
        ServiceCalendar.objects.annotate(n_accounts=Count("accounts"))
        .prefetch_related(Prefetch("accounts", queryset=ChannelAccount.objects.only("id", "platform", "name", "calendar_id")))
    )
    return render(request, "routing/calendar_list.html", {
        "calendars": calendars,
        "unserved": ChannelAccount.objects.filter(calendar__isnull=True).only("id", "platform", "name"),
        "may_write": may_write,
        "service_section": "calendars",
    })


@login_required
@require_http_methods(["GET", "POST"])
def calendar_edit(request, pk: int | None = None):
    """Create (no ``pk``) or change a calendar; readers see it without the controls."""
    may_write = _check(request, write=request.method == "POST")
    calendar = get_object_or_404(ServiceCalendar, pk=pk) if pk is not None else None
    if calendar is None and not may_write:
        raise PermissionDenied
    # A model form writes what it validated into its instance: give it a copy, so that a
    # refused change shows (and previews) the calendar as it is saved.
    form = ServiceCalendarForm(request.POST if request.method == "POST" else None,
                               instance=copy.copy(calendar) if calendar is not None else None)
    if request.method == "POST" and form.is_valid():
        saved = service_calendar_save(actor=request.user, calendar=calendar, **form.service_fields())
        messages.success(request, _("Calendar “%(name)s” saved (version %(version)s).")
                         % {"name": saved.name, "version": saved.version})
        return redirect("routing:calendar", pk=saved.pk)
    # Without JavaScript the preview's own form comes back here (GET ?preview-at=...).
    preview_form = PreviewForm(request.GET if "preview-at" in request.GET else None)
    preview = None
    if calendar is not None and (not preview_form.is_bound or preview_form.is_valid()):
        preview = _preview(calendar_for(calendar), preview_form)
    return render(request, "routing/calendar_edit.html", {
        "calendar": calendar,
        "form": form,
        "preview_form": preview_form,
        "preview": preview,
        "accounts": ChannelAccount.objects.select_related("calendar").order_by("platform", "name")
        if calendar is not None else [],
        "may_write": may_write,
        "service_section": "calendars",
    }, status=422 if request.method == "POST" else 200)


def _preview(cal, preview_form: PreviewForm):
    """The preview of an unbound form (its defaults) or a valid bound one; None otherwise."""
    if preview_form.is_bound:
        at, minutes = preview_form.local_at(cal.tz), preview_form.cleaned_data["minutes"]
    else:
        at, minutes = preview_form.initial["at"].replace(tzinfo=cal.tz), preview_form.fields["minutes"].initial
    return due_preview(cal, at, minutes)


@login_required
@require_http_methods(["GET", "POST"])
def calendar_preview(request, pk: int | None = None):
    """The preview as an HTML fragment: GET for a saved calendar (readers), POST with the
    edit form's fields for the calendar as typed, before it is saved (admins)."""
    _check(request, write=request.method == "POST")
    calendar = get_object_or_404(ServiceCalendar, pk=pk) if pk is not None else None
    data = request.POST if request.method == "POST" else request.GET
    preview_form = PreviewForm(data)
    context = {"preview_form": preview_form, "preview": None, "preview_error": ""}
    cal = calendar_for(calendar) if calendar is not None else None
    if request.method == "POST":
        form = ServiceCalendarForm(request.POST, instance=copy.copy(calendar) if calendar is not None else None)
        valid = form.is_valid()
        # A name already taken does not change the arithmetic.
        if valid or (set(form.errors) <= {"name"} and all(fs.is_valid() for *_x, fs in form.periods)):
            try:
                cal = form.calendar()
            except CalendarError:
                cal = None
        else:
            cal = None
        if cal is None:
            context["preview_error"] = _("Correct the calendar's errors to see when a message would be due.")
    elif cal is None:
        # A calendar not saved yet is previewed from the edit form's fields: POST only.
        return HttpResponseNotAllowed(["POST"])
    if cal is not None:
        if preview_form.is_valid():
            context["preview"] = _preview(cal, preview_form)
        else:
            context["preview_error"] = _("Give a date and time, and a target in minutes.")
    return render(request, "routing/_calendar_preview.html", context)


@login_required
@require_POST
def calendar_accounts(request, pk: int):
    """Give a channel account this calendar (``action=assign``) or serve it 24/7 (``remove``)."""
    _check(request, write=True)
    calendar = get_object_or_404(ServiceCalendar, pk=pk)
    form = AccountCalendarForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a channel account."))
        return redirect("routing:calendar", pk=calendar.pk)
    account = form.cleaned_data["account"]
    if request.POST.get("action") == "remove":
        if account.calendar_id == calendar.id:
            channel_account_calendar_set(actor=request.user, account=account, calendar=None)
            messages.success(request, _("%(account)s is now served around the clock.") % {"account": account})
    else:
        channel_account_calendar_set(actor=request.user, account=account, calendar=calendar)
        messages.success(request, _("%(account)s now follows “%(calendar)s”.")
                         % {"account": account, "calendar": calendar.name})
    return redirect(reverse("routing:calendar", args=[calendar.pk]) + "#accounts")


@login_required
@require_GET
def calendar_regions(request):
    """The ``<option>``s of a country's regions (the edit form refreshes its select)."""
    _check(request)
    country = request.GET.get("country", "")
    return render(request, "routing/_calendar_regions.html", {
        "regions": subdivision_choices(country), "selected": request.GET.get("selected", ""),
    })


@login_required
@require_GET
def policy_list(request):
    may_write = _check(request)
    policies = SlaPolicy.objects.select_related("team", "account").order_by("-is_active", "name")
    return render(request, "routing/policy_list.html", {
        "policies": policies, "may_write": may_write, "service_section": "policies",
    })


@login_required
@require_http_methods(["GET", "POST"])
def policy_edit(request, pk: int | None = None):
    may_write = _check(request, write=request.method == "POST")
    policy = get_object_or_404(SlaPolicy, pk=pk) if pk is not None else None
    if policy is None and not may_write:
        raise PermissionDenied
    form = SlaPolicyForm(request.POST if request.method == "POST" else None,
                         instance=copy.copy(policy) if policy is not None else None)
    if request.method == "POST" and form.is_valid():
        saved = sla_policy_save(actor=request.user, policy=policy, **form.service_fields())
        messages.success(request, _("Policy “%(name)s” saved (version %(version)s). Clocks already running keep "
                                    "the version they started under.") % {"name": saved.name, "version": saved.version})
        return redirect("routing:policy", pk=saved.pk)
    return render(request, "routing/policy_edit.html", {
        "policy": policy, "form": form, "may_write": may_write, "service_section": "policies",
    }, status=422 if request.method == "POST" else 200)
