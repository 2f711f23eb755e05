"""Pages of the public record: the audit trail (supervisors: their teams; admins: all),
exports (anyone with a team, of what they may see; downloaded by the requester only), and for
admins: people (data-subject export, hold, pseudonymise or erase), holds and retention."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import FileResponse, Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inbox.audit import audit_record
from inbox.models import (
    AuditEvent,
    ChannelAccount,
    Contact,
    Conversation,
    LegalHold,
    Person,
    RecordExport,
    RetentionRun,
)
from inbox.permissions import team_ids_for_user
from inbox.records.audit_trail import can_read_trail, is_records_admin, trail_csv_rows, trail_page
from inbox.records.exports import (
    download_name,
    export_download,
    export_request,
    exports_for_user,
    scope_description,
    scope_names,
)
from inbox.records.forms import (
    ExportForm,
    PersonRemoveForm,
    PersonSearchForm,
    ReasonForm,
    RetentionPolicyForm,
    TrailFilterForm,
)
from inbox.records.holds import (
    HoldRefused,
    active_holds,
    legal_hold_release,
    legal_hold_set,
    person_is_held,
)
from inbox.records.retention import LEGAL_BASES, person_data_remove, retention_policy_set
from inbox.selectors import conversations_for_user

TRAIL = AuditEvent(pk=0)  # the audit trail itself, as the target of "audit.view" and "audit.export"


def _require_admin(user) -> None:
    if not is_records_admin(user):
        raise PermissionDenied


def _can_export(user) -> bool:
    return is_records_admin(user) or bool(team_ids_for_user(user))


def _nav(request, section: str) -> dict:
    user = request.user
    return {"records_section": section, "records_admin": is_records_admin(user),
            "records_trail": can_read_trail(user)}


# --- The audit trail ------------------------------------------------------------------------------


@login_required
@require_GET
@never_cache
def audit_trail(request):
    if not can_read_trail(request.user):
        raise PermissionDenied
    form = TrailFilterForm(request.GET)
    trail_filter = form.trail_filter()
    events, next_before = trail_page(request.user, trail_filter)
    audit_record(request.user, "audit.view", TRAIL, filters=form.query(), before=trail_filter.before)
    query = form.query()
    return render(request, "records/audit_trail.html", {
        **_nav(request, "audit"), "form": form, "events": events,
        "next_url": f"?{urlencode({**query, 'before': next_before})}" if next_before else "",
        "csv_url": f"{reverse('records:audit_csv')}?{urlencode(query)}",
        "first_url": f"{reverse('records:audit')}?{urlencode(query)}",
        "filtered": bool(query), "first_page": trail_filter.before is None,
    })


@login_required
@require_GET
def audit_trail_csv(request):
    if not can_read_trail(request.user):
        raise PermissionDenied
    form = TrailFilterForm(request.GET)
    trail_filter = form.trail_filter()
    audit_record(request.user, "audit.export", TRAIL, filters=form.query())
    response = StreamingHttpResponse(trail_csv_rows(request.user, trail_filter), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{timezone.localdate():%Y%m%d}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# --- Exports --------------------------------------------------------------------------------------


def _visible_or_404(request) -> None:
    """Before the form is read: a conversation or Person the requester cannot see does not
    exist for them (404), whatever else is wrong with the input."""
    user = request.user
    raw_conversation = request.POST.get("conversation", "").strip()
    if raw_conversation.isdigit() and not conversations_for_user(user).filter(pk=int(raw_conversation)).exists():
        raise Http404
    raw_person = request.POST.get("person", "").strip()
    if raw_person.isdigit() and not conversations_for_user(user).filter(contact__person_id=int(raw_person)).exists():
        raise Http404


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def exports(request):
    user = request.user
    if not _can_export(user):
        raise PermissionDenied
    if request.method == "POST":
        _visible_or_404(request)
        form = ExportForm(request.POST)
        if form.is_valid():
            export = export_request(requester=user, kind=RecordExport.Kind.FOI, scope=form.scope())
            return redirect("records:export", uuid=export.uuid)
        status = 422
    else:
        form, status = ExportForm(initial={"date_from": request.GET.get("date_from"),
                                           "conversation": request.GET.get("conversation")}), 200
    rows = list(exports_for_user(user)[:30])
    names = scope_names(rows)
    return render(request, "records/exports.html", {
        **_nav(request, "exports"), "form": form, "exports": [(e, scope_description(e, names)) for e in rows],
    }, status=status)


def _own_export(request, uuid) -> RecordExport:
    try:
        return exports_for_user(request.user).get(uuid=uuid)
    except RecordExport.DoesNotExist:
        raise Http404 from None


@login_required
@require_GET
@never_cache
def export_detail(request, uuid):
    export = _own_export(request, uuid)
    if request.GET.get("format") == "json":
        return JsonResponse({
            "status": export.status, "status_label": export.get_status_display(),
            "done": export.progress_done, "total": export.progress_total,
            "ready": export.status == RecordExport.Status.READY,
        })
    return render(request, "records/export_detail.html", {
        **_nav(request, "exports"), "export": export, "scope": scope_description(export),
        "active": export.status in (RecordExport.Status.QUEUED, RecordExport.Status.RUNNING),
    })


@login_required
@require_GET
def export_file(request, uuid):
    export = _own_export(request, uuid)
    try:
        path = export_download(export, request.user)
    except FileNotFoundError:
        return render(request, "records/export_gone.html", {**_nav(request, "exports"), "export": export}, status=410)
    response = FileResponse(path.open("rb"), as_attachment=True, filename=download_name(export),
                            content_type="application/zip")
    response["Cache-Control"] = "no-store"
    return response


# --- People (admins) --------------------------------------------------------------------------------


@login_required
@require_GET
@never_cache
def people(request):
    _require_admin(request.user)
    form = PersonSearchForm(request.GET)
    q = form.cleaned_data["q"].strip() if form.is_valid() else ""
    persons = []
    if q:
        persons = list(
            Person.objects.filter(
                Q(display_name__icontains=q) | Q(contacts__name__icontains=q) | Q(contacts__handle__icontains=q)
                | Q(contacts__external_id=q)
            ).distinct().annotate(n_contacts=Count("contacts", distinct=True)).order_by("display_name", "id")[:50]
        )
        unlinked = list(Contact.objects.filter(person__isnull=True).filter(
            Q(name__icontains=q) | Q(handle__icontains=q) | Q(external_id=q)).order_by("id")[:20])
    else:
        unlinked = []
    return render(request, "records/people.html", {**_nav(request, "people"), "form": form, "q": q,
                                                    "persons": persons, "unlinked": unlinked})


@login_required
@require_POST
def contact_person(request, pk: int):
    """A contact without a Person gets one, so that it can be exported, held or erased."""
    _require_admin(request.user)
    try:
        contact = Contact.objects.get(pk=pk, person__isnull=True)
    except Contact.DoesNotExist:
        raise Http404 from None
    person = Person.objects.create(display_name=contact.name or contact.handle)
    Contact.objects.filter(pk=contact.pk).update(person=person)
    audit_record(request.user, "person.create", person, contact=contact.pk)
    return redirect("records:person", pk=person.pk)


def _person_or_404(pk: int) -> Person:
    try:
        return Person.objects.get(pk=pk)
    except Person.DoesNotExist:
        raise Http404 from None


@login_required
@require_GET
@never_cache
def person_detail(request, pk: int):
    _require_admin(request.user)
    person = _person_or_404(pk)
    return _person_page(request, person)


def _person_page(request, person: Person, *, remove_form=None, hold_form=None, status: int = 200):
    conversations = Conversation.objects.filter(contact__person=person).select_related("account", "team").order_by("-id")
    return render(request, "records/person.html", {
        **_nav(request, "people"), "person": person,
        "contacts": list(person.contacts.order_by("platform", "id")),
        "conversations": list(conversations[:50]), "conversation_count": conversations.count(),
        "holds": list(LegalHold.objects.filter(Q(person=person) | Q(conversation__contact__person=person))
                      .select_related("set_by", "released_by").order_by("-set_at")),
        "held": person_is_held(person),
        "exports": list(exports_for_user(request.user).filter(kind=RecordExport.Kind.DSAR,
                                                               scope__person=person.pk)[:5]),
        "remove_form": remove_form or PersonRemoveForm(), "hold_form": hold_form or ReasonForm(),
        "release_form": ReasonForm(prefix="release"), "legal_bases": LEGAL_BASES,
    }, status=status)


@login_required
@require_POST
def person_dsar(request, pk: int):
    _require_admin(request.user)
    person = _person_or_404(pk)
    export = export_request(requester=request.user, kind=RecordExport.Kind.DSAR, scope={"person": person.pk})
    return redirect("records:export", uuid=export.uuid)


@login_required
@require_POST
def person_hold(request, pk: int):
    _require_admin(request.user)
    person = _person_or_404(pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _person_page(request, person, hold_form=form, status=422)
    try:
        legal_hold_set(actor=request.user, person=person, reason=form.cleaned_data["reason"])
        messages.success(request, _("The person is on legal hold."))
    except HoldRefused as exc:
        messages.error(request, str(exc))
    return redirect("records:person", pk=person.pk)


@login_required
@require_POST
def person_remove(request, pk: int):
    _require_admin(request.user)
    person = _person_or_404(pk)
    form = PersonRemoveForm(request.POST)
    if not form.is_valid():
        return _person_page(request, person, remove_form=form, status=422)
    erase = form.cleaned_data["action"] == "erase"
    try:
        counts = person_data_remove(person=person, actor=request.user, basis=form.cleaned_data["basis"],
                                    explanation=form.cleaned_data["explanation"], erase=erase)
    except HoldRefused as exc:
        messages.error(request, str(exc))
        return _person_page(request, person, remove_form=form, status=409)
    done = _("Erased") if erase else _("Pseudonymised")
    messages.success(request, _("%(done)s: %(conversations)s conversations, %(messages)s messages.") % {
        "done": done, "conversations": counts.get("conversations", 0), "messages": counts.get("messages", 0)})
    return redirect("records:person", pk=person.pk)


# --- Holds (admins) ---------------------------------------------------------------------------------


@login_required
@require_GET
@never_cache
def holds(request):
    _require_admin(request.user)
    rows = list(active_holds().select_related("conversation", "person", "set_by").order_by("-set_at")[:200])
    return render(request, "records/holds.html", {**_nav(request, "holds"), "holds": rows,
                                                   "release_form": ReasonForm(prefix="release")})


@login_required
@require_POST
def conversation_hold(request, pk: int):
    _require_admin(request.user)
    try:
        conversation = conversations_for_user(request.user).get(pk=pk)
    except Conversation.DoesNotExist:
        raise Http404 from None
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            legal_hold_set(actor=request.user, conversation=conversation, reason=form.cleaned_data["reason"])
            messages.success(request, _("The conversation is on legal hold."))
        except HoldRefused as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, _("Give the reason for the hold."))
    return redirect("inbox:conversation", pk=conversation.pk)


@login_required
@require_POST
def hold_release(request, pk: int):
    _require_admin(request.user)
    try:
        hold = LegalHold.objects.select_related("conversation", "person").get(pk=pk)
    except LegalHold.DoesNotExist:
        raise Http404 from None
    form = ReasonForm(request.POST, prefix="release")
    if form.is_valid():
        try:
            legal_hold_release(actor=request.user, hold=hold, reason=form.cleaned_data["reason"])
            messages.success(request, _("The legal hold is released."))
        except HoldRefused as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, _("Give the reason for releasing the hold."))
    next_url = request.POST.get("next", "")
    if next_url.startswith("/") and not next_url.startswith("//"):
        return redirect(next_url)
    return redirect("records:holds")


# --- Retention (admins) -----------------------------------------------------------------------------


@login_required
@require_GET
@never_cache
def retention(request):
    _require_admin(request.user)
    accounts = list(ChannelAccount.objects.select_related("retention_policy").order_by("platform", "name"))
    for account in accounts:
        policy = getattr(account, "retention_policy", None)
        account.retention_form = RetentionPolicyForm(
            initial={"keep_months": policy.keep_months if policy else None}, prefix=f"a{account.pk}")
    return render(request, "records/retention.html", {
        **_nav(request, "retention"), "accounts": accounts, "runs": list(RetentionRun.objects.all()[:10]),
    })


@login_required
@require_POST
def retention_set(request, pk: int):
    _require_admin(request.user)
    try:
        account = ChannelAccount.objects.get(pk=pk)
    except ChannelAccount.DoesNotExist:
        raise Http404 from None
    form = RetentionPolicyForm(request.POST, prefix=f"a{account.pk}")
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("records:retention")
    retention_policy_set(account=account, keep_months=form.cleaned_data["keep_months"], actor=request.user)
    months = form.cleaned_data["keep_months"]
    messages.success(request, _("%(account)s: kept for %(months)s months.") % {"account": account, "months": months}
                     if months else _("%(account)s: kept forever.") % {"account": account})
    return redirect("records:retention")

