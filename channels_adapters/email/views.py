"""Pages for e-mail: connecting a mailbox (admins), and a citizen's whole e-mail and its
attachments, read from the stored message for officers who may see the conversation."""

from __future__ import annotations

import binascii

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from channels_adapters.base import AdapterError
from channels_adapters.email import payloads
from channels_adapters.email.adapter import decode_key, part_url
from channels_adapters.email.connect import email_account_connect
from channels_adapters.email.forms import ConnectMailboxForm
from inbox.audit import audit_record
from inbox.models import ChannelAccount, Conversation, Message
from inbox.permissions import can_manage_channels
from inbox.selectors import conversation_for_user

# Shown in the browser as they are; anything else a citizen sent is downloaded, never rendered
# from our origin (an HTML or SVG attachment would run as our page).
INLINE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf"}
# The whole e-mail's page: its sanitised HTML may show images it carries (cid:, data:) and
# nothing from elsewhere (no tracking pixel reports that an officer read it).
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@login_required
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest) -> HttpResponse:
    if not can_manage_channels(request.user):
        raise PermissionDenied(_("Only admins connect channel accounts."))
    form = ConnectMailboxForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        team = data.pop("default_team")
        name = data.pop("name")
        try:
            account = email_account_connect(user=request.user, credentials=data, name=name, default_team=team)
        except AdapterError as exc:
            error = _("The mailbox could not be connected: %(error)s") % {"error": exc}
        else:
            flash.success(request, _("Connected %(account)s. Its mail arrives in the inbox.") % {"account": account})
            return redirect("email:connect")
    accounts = list(ChannelAccount.objects.filter(platform="email").select_related("default_team"))
    return render(request, "channels_adapters/email/connect.html", {"form": form, "error": error,
                                                                      "accounts": accounts},
                  status=400 if error or (request.method == "POST" and not form.is_valid()) else 200)


def _stored(request: HttpRequest, address: str, key: str) -> tuple[Message, payloads.EmailMessage]:
    """The citizen's message the URL names, if this user may see its conversation (else 404)."""
    try:
        external_id = decode_key(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Http404 from None
    message = (Message.objects.filter(account__platform="email", account__external_id=address,
                                      external_id=external_id, direction=Message.Direction.INBOUND)
               .select_related("raw_event").first())
    if message is None:
        raise Http404
    try:
        conversation_for_user(request.user, message.conversation_id)
    except Conversation.DoesNotExist:
        raise Http404 from None
    if message.raw_event is None or not message.raw_event.body:
        raise Http404  # removed by retention: the timeline's text is what is left
    return message, payloads.parse_bytes(bytes(message.raw_event.body))


@login_required
@require_GET
def message(request: HttpRequest, address: str, key: str) -> HttpResponse:
    stored, _msg = _stored(request, address, key)
    mail = payloads.read_mail(bytes(stored.raw_event.body))
    cid_urls = {p.content_id: part_url(address, mail.message_id, p.index) for p in mail.parts
                if p.content_id and not p.removed}
    html = payloads.sanitize_html(mail.html, cid_urls=cid_urls) if mail.html else ""
    parts = [{"name": p.name, "size": p.size, "removed": p.removed, "type": p.content_type,
              "url": "" if p.removed else part_url(address, mail.message_id, p.index)} for p in mail.parts]
    audit_record(request.user, "message.email_open", stored)
    response = render(request, "channels_adapters/email/message.html", {
        "stored": stored, "mail": mail, "html": html, "parts": parts,
        "conversation_id": stored.conversation_id,
    })
    response["Content-Security-Policy"] = PAGE_CSP
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def part(request: HttpRequest, address: str, key: str, index: int) -> HttpResponse:
    stored, msg = _stored(request, address, key)
    found = next((p for i, p in payloads.leaves(msg) if i == index), None)
    if found is None or found.get(payloads.REMOVED_HEADER):
        raise Http404
    content = payloads.part_bytes(found)
    name = payloads.filename(found) or payloads.default_name(found)
    content_type = found.get_content_type()
    audit_record(request.user, "message.attachment_open", stored, name=name, type=content_type)
    inline = content_type in INLINE_TYPES
    response = HttpResponse(content, content_type=content_type if inline else "application/octet-stream")
    safe = "".join(c for c in name if c.isalnum() or c in "._- ")[:100] or "file"
    response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{safe}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=300"
    return response
