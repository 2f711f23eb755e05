"""Pages for Telegram bots: connecting one and switching how it receives (admins), and the
files citizens sent, fetched through the bot for officers who may see the conversation."""

from __future__ import annotations

import logging

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels_adapters.base import AdapterError
from channels_adapters.telegram.adapter import api_for, in_webhook_mode, webhook_url
from channels_adapters.telegram.connect import telegram_bot_connect, telegram_mode_set
from channels_adapters.telegram.forms import ConnectBotForm, ModeForm
from inbox.audit import audit_record
from inbox.models import ChannelAccount, Conversation, Message
from inbox.permissions import can_manage_channels
from inbox.selectors import conversation_for_user

logger = logging.getLogger(__name__)

# Shown in the browser as they are; anything else a citizen sent is downloaded, never rendered
# from our origin (an HTML or SVG "document" would run as our page).
INLINE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "audio/ogg", "audio/mpeg", "video/mp4"}


def _require_admin(request: HttpRequest) -> None:
    if not can_manage_channels(request.user):
        raise PermissionDenied(_("Only admins connect channel accounts."))


@login_required
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    https = webhook_url().startswith("https://")
    form = ConnectBotForm(request.POST or None, initial={"mode": "webhook" if https else "polling"})
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            account = telegram_bot_connect(
                user=request.user, bot_token=form.cleaned_data["bot_token"], mode=form.cleaned_data["mode"],
                default_team=form.cleaned_data["default_team"],
            )
        except AdapterError as exc:
            error = str(exc)
        else:
            flash.success(request, _("Connected %(bot)s. Its private messages arrive in the inbox.") % {
                "bot": account})
            return redirect("telegram:connect")
    accounts = list(ChannelAccount.objects.filter(platform="telegram").select_related("default_team"))
    for account in accounts:
        account.mode = "simulated" if account.simulated else ("webhook" if in_webhook_mode(account) else "polling")
    return render(
        request, "channels_adapters/telegram/connect.html",
        {"form": form, "error": error, "accounts": accounts, "webhook_url": webhook_url(), "https": https},
        status=400 if error or (request.method == "POST" and not form.is_valid()) else 200,
    )


@login_required
@require_POST
def mode(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    account = get_object_or_404(ChannelAccount, pk=pk, platform="telegram", simulated=False)
    form = ModeForm(request.POST)
    if not form.is_valid():
        flash.error(request, _("Choose webhook or polling."))
        return redirect("telegram:connect")
    try:
        telegram_mode_set(user=request.user, account=account, mode=form.cleaned_data["mode"])
    except AdapterError as exc:
        flash.error(request, str(exc))
    else:
        flash.success(request, _("%(bot)s now receives its messages by %(mode)s.") % {
            "bot": account, "mode": _("webhook") if form.cleaned_data["mode"] == "webhook" else _("polling")})
    return redirect("telegram:connect")


@login_required
@require_GET
def file(request: HttpRequest, bot_id: str, chat_id: int, message_id: int, unique_id: str) -> HttpResponse:
    """A file from a citizen's message, fetched through the bot now (``getFile``).

    Only for someone who may see the conversation (another team's is a 404, as everywhere),
    and only a file the stored message (or one of its revisions) names at this very address:
    the file id comes from our record, never from the request. The bot token stays here.
    """
    message = (
        Message.objects.filter(account__platform="telegram", account__external_id=bot_id,
                               external_id=f"{chat_id}:{message_id}", direction=Message.Direction.INBOUND)
        .select_related("account").first()
    )
    if message is None:
        raise Http404
    try:
        conversation_for_user(request.user, message.conversation_id)
    except Conversation.DoesNotExist:
        raise Http404 from None
    known = list(message.attachments or []) + [
        a for revision in message.revisions.all() for a in (revision.previous_attachments or [])
    ]
    attachment = next((a for a in known if isinstance(a, dict) and a.get("url") == request.path and a.get("ref")),
                      None)
    if attachment is None or message.account.simulated:
        raise Http404
    try:
        download = api_for(message.account).download(attachment["ref"])
    except AdapterError as exc:
        logger.warning("telegram file for message %s: %s", message.pk, exc)
        return HttpResponse(_("Telegram could not give the file: %(error)s") % {"error": exc},
                            status=502, content_type="text/plain; charset=utf-8")
    audit_record(request.user, "message.attachment_open", message, name=attachment.get("name", ""),
                 type=attachment.get("type", ""))
    content_type = (attachment.get("mime_type") or download.content_type).split(";")[0].strip().lower()
    inline = content_type in INLINE_TYPES
    response = StreamingHttpResponse(download.chunks, content_type=content_type if inline
                                     else "application/octet-stream")
    if download.size:
        response["Content-Length"] = str(download.size)
    disposition = "inline" if inline else "attachment"
    filename = "".join(c for c in str(attachment.get("name") or "file") if c.isalnum() or c in "._- ")[:100]
    response["Content-Disposition"] = f'{disposition}; filename="{filename or "file"}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=300"
    return response
