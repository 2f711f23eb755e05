from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from channels_adapters.base import ReplyRefused
from channels_adapters.outbound import PersonalDataInPublicReply, reply_options, reply_submit
from channels_adapters.registry import get_adapter
from inbox.audit import audit_record
from inbox.conversation_presence import presence_attach
from inbox.forms import (
    STATUS_ACTIONS,
    AssignForm,
    BulkForm,
    NoteForm,
    PriorityForm,
    QueueFilterForm,
    ReplyForm,
    SnoozeForm,
    StatusForm,
    TagsForm,
)
from inbox.library_views import saved_reply_fill
from inbox.models import Conversation, ReplyDraft, SavedReply, Tag, Team
from inbox.people_views import citizen_card_context
from inbox.permissions import REPLY, SUPERVISE, team_ids_for_user, team_officers, user_has_team_perm
from inbox.queue_rows import queue_rows_prepare
from inbox.selectors import (
    conversation_for_user,
    conversation_timeline,
    queue_counts,
    queue_page,
)
from inbox.services import (
    AssignmentRefused,
    MentionRefused,
    ReplyCollision,
    UnknownLastSeenMessage,
    conversation_assign,
    conversation_note_add,
    conversation_priority_set,
    conversation_status_set,
    conversation_tags_set,
)
from inbox.services.approvals import open_draft_for
from inbox.services.snooze import SnoozeRefused, conversation_snooze, snooze_until
from routing import countdown as sla_countdown
from routing import sla


@require_GET
@never_cache
def healthz(request):
    """Database and broker status; 503 when either is down (for load balancers and compose)."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if settings.REDIS_URL:
        try:
            import redis

            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"error: {type(exc).__name__}"
    else:
        checks["broker"] = "in-process"
    healthy = all(v in ("ok", "in-process") for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)


# --- Queues ----------------------------------------------------------------------------------


@login_required
@require_GET
@never_cache
def queue(request):
    """The three queues; ``?fragment=1`` renders only the list (the live refresh fetches it)."""
    user = request.user
    # team_ids_for_user is cached on the user, so the names cost one plain query.
    teams = list(Team.objects.filter(id__in=team_ids_for_user(user)).only("id", "name"))
    form = QueueFilterForm(request.GET, teams=teams)
    queue_filter = form.queue_filter()
    conversations, next_cursor = queue_page(user, queue_filter)
    presence_attach(conversations, user)  # who has each open: one Redis round trip, no query
    queue_rows_prepare(conversations, user)  # the rows' values, once per request (inbox/queue_rows.py)
    context = {
        "conversations": conversations,
        "next_cursor": next_cursor,
        "queue_filter": queue_filter,
        "search_too_short": bool(queue_filter.search) and not _searchable(queue_filter.search),
    }
    if request.GET.get("fragment"):
        response = render(request, "inbox/_queue_list.html", context)
        # The live refresh keeps the tab counts true too (one aggregate query).
        response["X-Queue-Counts"] = json.dumps(queue_counts(user))
        return response
    context.update(
        form=form,
        counts=queue_counts(user),
        tabs=[("mine", _("Mine")), ("team", _("My teams")), ("unassigned", _("Unassigned"))],
        first_response_target=settings.FIRST_RESPONSE_TARGET_MINUTES,
        **_bulk_context(request, teams),
    )
    return render(request, "inbox/queue.html", context)


def _searchable(text: str) -> bool:
    from inbox.limits import SEARCH_MIN_LENGTH

    return len(text) >= SEARCH_MIN_LENGTH or text.removeprefix("#").isdigit()


def _bulk_context(request, teams: list[Team]) -> dict:
    """What the queue's bulk bar offers: tags, the saved replies of the user's teams, whom a
    supervisor may assign to; and the summary of the last bulk action (once)."""
    user = request.user
    team_ids = [t.id for t in teams]
    supervised = [t for t in teams if user_has_team_perm(user, t, SUPERVISE)]
    officers: dict[int, object] = {}
    for team in supervised[:5]:
        officers.update((u.pk, u) for u in team_officers(team))
    return {
        "bulk_tags": list(Tag.objects.only("id", "name").order_by("name")),
        "bulk_saved_replies": list(
            SavedReply.objects.filter(Q(team_id__in=team_ids) | Q(team__isnull=True))
            .only("id", "title", "team_id").order_by("title")
        ),
        "bulk_officers": sorted(officers.values(), key=lambda u: (u.get_full_name() or u.get_username()).lower()),
        "bulk_seen_at": timezone.now().isoformat(),
        "bulk_token": uuid.uuid4().hex,
        "bulk_summary": request.session.pop(BULK_SUMMARY_KEY, None) if BULK_SUMMARY_KEY in request.session else None,
    }


BULK_SUMMARY_KEY = "inbox.bulk_summary"


@login_required
@require_POST
def queue_bulk(request):
    """Assign, tag, resolve, mark as spam or send a saved reply to each selected conversation;
    back to the queue with a summary of what was done, sent, held and why."""
    from channels_adapters.bulk import bulk_reply
    from inbox.services.bulk import bulk_apply

    back = request.POST.get("next", "")
    back = back if back.startswith("/inbox/") and not back.startswith("//") else reverse("inbox:queue")
    form = BulkForm(request.POST)
    if not form.is_valid():
        errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
        messages.error(request, " ".join(errors) or _("Choose conversations and an action."))
        return redirect(back)
    data = form.cleaned_data
    ids = data["conversations"]
    if data["action"] == "reply":
        summary = bulk_reply(user=request.user, conversation_ids=ids, saved_reply_id=data["saved_reply"],
                             seen_at=data["seen_at"], bulk_token=data["bulk_token"])
    else:
        assignee = tag = None
        if data["action"] == "assign":
            raw = data["assignee"]
            if raw == "me":
                assignee = request.user
            elif raw.isdigit():
                assignee = get_user_model().objects.filter(pk=int(raw), is_active=True).first()
            if assignee is None:
                messages.error(request, _("Choose an officer of the team."))
                return redirect(back)
        if data["action"] == "tag":
            tag = Tag.objects.filter(pk=data["tag"]).first()
            if tag is None:
                messages.error(request, _("Choose a tag."))
                return redirect(back)
        summary = bulk_apply(user=request.user, action=data["action"], conversation_ids=ids,
                             assignee=assignee, tag=tag)
        if data["action"] in ("resolve", "spam") and summary.changed_ids():
            sla.conversations_sync(summary.changed_ids())
    request.session[BULK_SUMMARY_KEY] = summary.as_dict()
    return redirect(back)


# --- One conversation ------------------------------------------------------------------------


def _conversation_or_404(request, pk: int) -> Conversation:
    """Another team's conversation does not exist for this user: 404, never 403."""
    try:
        return conversation_for_user(request.user, pk)
    except Conversation.DoesNotExist:
        raise Http404(_("No such conversation.")) from None


def _conversation_to_act_on(request, pk: int) -> Conversation:
    """A conversation the user may answer and change: 404 when they cannot see it, 403 when
    they can see it but not act (they can see it, so a 403 tells them nothing new) — checked
    before any input is read."""
    conversation = _conversation_or_404(request, pk)
    if not user_has_team_perm(request.user, conversation.team, REPLY):
        raise PermissionDenied
    return conversation


def _saved_replies(conversation: Conversation, *, holding_first: bool = False) -> list[SavedReply]:
    """The team's and everyone's saved replies; while the first answer is at risk, the
    holding replies ("we are looking into it") come first: sent in time, they meet it."""
    replies = list(
        SavedReply.objects.filter(Q(team_id=conversation.team_id) | Q(team__isnull=True))
        .only("id", "title", "body", "language", "team_id", "kind")
        .order_by("title")
    )
    if holding_first:
        # Stable: holding replies first, the team's before everyone's, then by title.
        replies.sort(key=lambda s: (0, s.team_id is None) if s.kind == SavedReply.Kind.HOLDING else (1, False))
    return replies


@login_required
@require_GET
@never_cache
def conversation_detail(request, pk: int):
    conversation = _conversation_or_404(request, pk)
    if request.GET.get("fragment") == "timeline":
        return render(
            request, "inbox/_timeline.html",
            {"conversation": conversation, "timeline": conversation_timeline(conversation)},
        )
    if request.GET.get("fragment") == "live":
        # What an open page refreshes live: status, first-answer clock, assignment, timeline.
        return render(request, "inbox/_conversation_live.html", _conversation_state(request, conversation))
    # Opening a conversation is on the record (the live refreshes above are not new views).
    audit_record(request.user, "conversation.view", conversation)
    reply_text, saved = "", None
    saved_id = request.GET.get("saved", "")
    if saved_id.isdigit():
        # Without JavaScript, "Insert" reloads the page with the saved reply in the composer.
        saved = _saved_reply_for(conversation, int(saved_id))
        # In the conversation's language, variables filled in (as the composer's search does).
        reply_text = saved_reply_fill(request, conversation, saved)[0] if saved else ""
    return _conversation_page(request, conversation, reply_text=reply_text, reply_saved_reply=saved)


def _saved_reply_for(conversation: Conversation, saved_id: int | None) -> SavedReply | None:
    """A saved reply this conversation's team may use (its own or everyone's), or None."""
    if not saved_id:
        return None
    return SavedReply.objects.filter(Q(team_id=conversation.team_id) | Q(team__isnull=True), id=saved_id).first()


def _conversation_state(request, conversation: Conversation) -> dict:
    """What the page shows and the live refresh replaces: header, assignment, timeline."""
    user = request.user
    can_reply = user_has_team_perm(user, conversation.team, REPLY)
    can_supervise = conversation.team is not None and user_has_team_perm(user, conversation.team, SUPERVISE)
    timeline = conversation_timeline(conversation)
    if can_reply:
        adapter = get_adapter(conversation.account.platform)
        for message in timeline:
            message.platform_actions = adapter.message_actions(message)
    countdown = sla_countdown.countdown(conversation)
    holding_first = countdown is not None and countdown.first_response_at_risk
    return {
        "countdown": countdown,
        "window": sla_countdown.reply_window(conversation, countdown),
        "holding_first": holding_first,
        "saved_replies": _saved_replies(conversation, holding_first=holding_first) if can_reply else [],
        "conversation": conversation,
        "timeline": timeline,
        "can_reply": can_reply,
        "can_supervise": can_supervise,
        "officers": team_officers(conversation.team) if can_supervise else [],
        "status_actions": [
            (value, label) for value, label in STATUS_ACTIONS.items()
            if value != conversation.status
            and (value != Conversation.Status.OPEN
                 or conversation.status not in (Conversation.Status.NEW, Conversation.Status.OPEN))
        ],
        "first_response_target": settings.FIRST_RESPONSE_TARGET_MINUTES,
        # The officer's own reply held for approval (inbox/services/approvals.py), if any.
        "reply_draft": open_draft_for(conversation, user) if can_reply else None,
    }


def _conversation_page(
    request,
    conversation: Conversation,
    *,
    reply_text: str = "",
    reply_option: str = "",
    reply_error: str = "",
    reply_token: str = "",
    reply_personal_data: bool = False,
    seen_message_id: int | None = None,
    reply_collision: ReplyCollision | None = None,
    note_text: str = "",
    note_error: str = "",
    snooze_error: str = "",
    reply_saved_reply: SavedReply | None = None,
    status: int = 200,
) -> HttpResponse:
    """The conversation page; re-rendered with the officer's input when a write is refused.

    ``seen_message_id`` is the newest message the officer had been shown when they wrote
    (from the composer): what came after it is marked new. Only messages shown prominently
    count as seen, so the composer keeps that id, except after a collision, where the newer
    messages are listed above the composer and "Send anyway" confirms them.
    """
    context = _conversation_state(request, conversation)
    can_reply = context["can_reply"]
    options = reply_options(conversation) if can_reply else []
    draft = context["reply_draft"]
    if draft is not None and draft.status != ReplyDraft.Status.APPROVED and not reply_text and not reply_error:
        # The held reply comes back into the composer: to rewrite after a return, or to change.
        reply_text, reply_option = draft.text, reply_option or draft.option
    if not reply_option or not any(o.key == reply_option and o.available for o in options):
        reply_option = next((o.key for o in options if o.available), "")
    newest_id = max((m.id for m in context["timeline"]), default=0)
    if reply_collision is not None:
        last_seen = reply_collision.last_message_id
    elif seen_message_id is not None:
        last_seen = seen_message_id
    else:
        last_seen = newest_id
    context.update({
        # The citizen card: linked channels, suggestions, conversations everywhere, notes.
        **citizen_card_context(request, conversation, can_reply=can_reply),
        "reply_options": options,
        "reply_option": reply_option,
        "reply_text": reply_text,
        "reply_saved_reply": reply_saved_reply.pk if reply_saved_reply else "",
        "reply_error": reply_error,
        # One token per composed reply: submitting the same form twice sends one reply.
        "reply_token": reply_token or uuid.uuid4().hex,
        "reply_personal_data": reply_personal_data,
        "reply_collision": reply_collision.newer if reply_collision is not None else [],
        "last_seen_message_id": last_seen,
        # Marks the messages the officer had not seen when they wrote (None: nothing to mark).
        "new_after": seen_message_id if seen_message_id is not None and seen_message_id < newest_id else None,
        "note_text": note_text,
        "note_error": note_error,
        "snooze_form": SnoozeForm(),
        "snooze_error": snooze_error,
        "priority_choices": Conversation.Priority.choices,
        "all_tags": list(Tag.objects.only("id", "name").order_by("name")) if can_reply else [],
        "conversation_tag_ids": {t.pk for t in conversation.tags.all()},
        # Who a note may mention (@username): the officers of the team.
        "mentionable": team_officers(conversation.team) if can_reply and conversation.team else [],
    })
    return render(request, "inbox/conversation.html", context, status=status)


@login_required
@require_POST
def conversation_reply(request, pk: int):
    conversation = _conversation_to_act_on(request, pk)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        posted_seen = request.POST.get("last_seen_message_id", "")
        return _conversation_page(
            request, conversation, reply_text=request.POST.get("text", ""),
            reply_error=_("Choose how to reply."), status=422,
            seen_message_id=int(posted_seen) if posted_seen.isdigit() else None,
        )
    text, option, token = form.cleaned_data["text"], form.cleaned_data["option"], form.cleaned_data["client_token"]
    seen = form.cleaned_data["last_seen_message_id"]
    saved = _saved_reply_for(conversation, form.cleaned_data["saved_reply"])
    try:
        sent = reply_submit(
            conversation=conversation, user=request.user, text=text, option_key=option,
            client_token=token, confirm_public=form.cleaned_data["confirm_public"], last_seen_message_id=seen,
            saved_reply=saved,
        )
    except ReplyCollision as exc:
        # Nothing was sent: the officer reads what came in, then sends anyway or rewrites.
        return _conversation_page(
            request, conversation, reply_text=text, reply_option=option, reply_token=token,
            seen_message_id=seen, reply_collision=exc, reply_saved_reply=saved, status=409,
        )
    except UnknownLastSeenMessage:
        # Not a message of this conversation (a tampered form): the page again, as it is now.
        return _conversation_page(
            request, conversation, reply_text=text, reply_option=option, reply_token=token,
            reply_error=_("The page was out of date; check the conversation and send again."),
            status=422,
        )
    except ReplyRefused as exc:
        # The officer keeps their text and sees why the platform would refuse it.
        return _conversation_page(
            request, conversation, reply_text=text, reply_option=option, reply_token=token,
            reply_error=str(exc) or _("The reply cannot be sent."), status=422,
            reply_personal_data=isinstance(exc, PersonalDataInPublicReply), seen_message_id=seen,
            reply_saved_reply=saved,
        )
    if isinstance(sent, ReplyDraft):
        messages.success(request, _("Your reply is waiting for a supervisor's approval: nothing was sent yet."))
        return redirect("inbox:conversation", pk=conversation.pk)
    if getattr(sent, "reopened_conversation", False):
        messages.success(request, _("Reply queued for sending. The conversation was resolved: it is open again."))
        return redirect("inbox:conversation", pk=conversation.pk)
    messages.success(request, _("Reply queued for sending."))
    return redirect("inbox:conversation", pk=conversation.pk)


@login_required
@require_POST
def conversation_note(request, pk: int):
    conversation = _conversation_or_404(request, pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _conversation_page(
            request, conversation, note_text=request.POST.get("text", ""),
            note_error=" ".join(form.errors.get("text", [])) or _("The note is empty."), status=422,
        )
    try:
        note = conversation_note_add(conversation=conversation, user=request.user, text=form.cleaned_data["text"])
    except MentionRefused as exc:
        return _conversation_page(
            request, conversation, note_text=form.cleaned_data["text"], status=422,
            note_error=_("Only officers of the team can be mentioned: %(names)s.")
            % {"names": ", ".join(f"@{n}" for n in exc.names)},
        )
    if note.mentioned:
        messages.success(request, _("Note added; told %(names)s.") % {
            "names": ", ".join(u.get_full_name() or u.get_username() for u in note.mentioned)})
    else:
        messages.success(request, _("Note added."))
    return redirect("inbox:conversation", pk=conversation.pk)


@login_required
@require_POST
def conversation_snooze_view(request, pk: int):
    conversation = _conversation_to_act_on(request, pk)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        errors = " ".join(str(e) for errs in form.errors.values() for e in errs)
        return _conversation_page(request, conversation, snooze_error=errors, status=422)
    try:
        until = snooze_until(form.cleaned_data["until"], conversation, custom=form.cleaned_data.get("custom"))
        conversation_snooze(conversation=conversation, user=request.user, until=until)
    except SnoozeRefused as exc:
        return _conversation_page(request, conversation, snooze_error=_snooze_reason(exc), status=422)
    messages.success(request, _("Snoozed until %(when)s: it is back at the top of the queue then.") % {
        "when": date_format(timezone.localtime(until), "DATETIME_FORMAT")})
    return redirect("inbox:conversation", pk=conversation.pk)


def _snooze_reason(exc: SnoozeRefused) -> str:
    text = str(exc)
    if "passed" in text:
        return _("That time has passed: choose a time to come.")
    if "year" in text:
        return _("A conversation can be snoozed for a year at most.")
    return _("Choose when to wake it.")


@login_required
@require_POST
def conversation_priority_view(request, pk: int):
    conversation = _conversation_to_act_on(request, pk)
    form = PriorityForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown priority."))
        return redirect("inbox:conversation", pk=conversation.pk)
    conversation_priority_set(conversation=conversation, user=request.user, priority=form.cleaned_data["priority"])
    messages.success(request, _("Priority set to %(priority)s.") % {
        "priority": conversation.get_priority_display().lower()})
    return redirect("inbox:conversation", pk=conversation.pk)


@login_required
@require_POST
def conversation_tags_view(request, pk: int):
    conversation = _conversation_to_act_on(request, pk)
    form = TagsForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown tag."))
        return redirect("inbox:conversation", pk=conversation.pk)
    try:
        conversation_tags_set(conversation=conversation, user=request.user, replace=list(form.cleaned_data["tags"]))
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("inbox:conversation", pk=conversation.pk)
    messages.success(request, _("Tags saved."))
    return redirect("inbox:conversation", pk=conversation.pk)


@login_required
@require_POST
def conversation_status(request, pk: int):
    conversation = _conversation_or_404(request, pk)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown status."))
        return redirect("inbox:conversation", pk=conversation.pk)
    conversation_status_set(conversation=conversation, user=request.user, status=form.cleaned_data["status"])
    sla.conversations_sync([conversation.id])
    messages.success(request, _("Conversation marked %(status)s.") % {"status": conversation.get_status_display().lower()})
    return redirect("inbox:conversation", pk=conversation.pk)


@login_required
@require_POST
def conversation_assign_view(request, pk: int):
    """``assignee=me`` takes the conversation (anyone who may reply); other choices supervise."""
    conversation = _conversation_or_404(request, pk)
    if request.POST.get("assignee") == "me":
        assignee = request.user
    else:
        # Checked before the form so that a non-supervisor learns nothing about the officers.
        if not user_has_team_perm(request.user, conversation.team, SUPERVISE):
            raise PermissionDenied
        form = AssignForm(request.POST, officers=team_officers(conversation.team))
        if not form.is_valid():
            messages.error(request, _("Choose an officer of the team."))
            return redirect("inbox:conversation", pk=conversation.pk)
        assignee = form.officers.get(form.cleaned_data["assignee"])
    try:
        conversation_assign(conversation=conversation, user=request.user, assignee=assignee)
    except AssignmentRefused as exc:
        messages.error(request, str(exc))
        return redirect("inbox:conversation", pk=conversation.pk)
    if assignee is None:
        messages.success(request, _("Conversation unassigned."))
    elif assignee == request.user:
        messages.success(request, _("Conversation assigned to you."))
    else:
        who = assignee.get_full_name() or assignee.get_username()
        messages.success(request, _("Conversation assigned to %(name)s.") % {"name": who})
    return redirect("inbox:conversation", pk=conversation.pk)
