"""Pages for Meta accounts: connecting a Page (admins) and hiding a comment (officers)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from channels_adapters.base import AdapterError
from channels_adapters.meta.actions import comment_hide
from channels_adapters.meta.connect import page_connect
from channels_adapters.meta.forms import ConnectPageForm, HideCommentForm
from inbox.models import ChannelAccount, Conversation, Message
from inbox.permissions import can_manage_channels
from inbox.selectors import conversation_for_user


@login_required
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest) -> HttpResponse:
    if not can_manage_channels(request.user):
        raise PermissionDenied(_("Only admins connect channel accounts."))
    form = ConnectPageForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            result = page_connect(
                user=request.user, access_token=form.cleaned_data["page_access_token"],
                default_team=form.cleaned_data["default_team"],
            )
        except AdapterError as exc:
            error = str(exc)
        else:
            names = ", ".join(str(a) for a in result.accounts)
            flash.success(request, f"Connected {names}. Recent comments and messages are being fetched.")
            for warning in result.warnings:
                flash.warning(request, warning)
            return redirect("meta:connect")
    accounts = ChannelAccount.objects.filter(platform__in=("facebook", "instagram")).select_related("default_team")
    return render(
        request, "channels_adapters/meta/connect.html",
        {"form": form, "error": error, "accounts": accounts,
         "app_configured": bool(settings.META_APP_ID and settings.META_APP_SECRET and settings.META_VERIFY_TOKEN)},
        status=400 if error else 200,
    )


def _conversation_url(request: HttpRequest, conversation: Conversation) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    try:
        return reverse("inbox:conversation", args=[conversation.pk])
    except NoReverseMatch:
        return "/"


@login_required
@require_http_methods(["GET", "POST"])
def message_hide(request: HttpRequest, pk: int) -> HttpResponse:
    message = (
        Message.objects.filter(pk=pk, direction=Message.Direction.INBOUND, account__platform__in=("facebook", "instagram"))
        .select_related("account", "author_contact").first()
    )
    if message is None:
        raise Http404
    try:
        # Another team's conversation does not exist for this user.
        conversation = conversation_for_user(request.user, message.conversation_id)
    except Conversation.DoesNotExist:
        raise Http404 from None
    message.conversation = conversation
    form = HideCommentForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            comment_hide(user=request.user, message=message, reason=form.cleaned_data["reason"])
        except (AdapterError, ValueError) as exc:
            error = str(exc)
        else:
            flash.success(request, _("The comment is hidden on the platform; it stays in the record here."))
            return redirect(_conversation_url(request, conversation))
    context = {"form": form, "message": message, "conversation": conversation, "error": error,
               "next": request.POST.get("next") or request.GET.get("next") or ""}
    status = 400 if request.method == "POST" else 200
    return render(request, "channels_adapters/meta/hide.html", context, status=status)
