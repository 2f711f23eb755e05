"""The public contact form (``/contact/<slug>/``, no sign-in, embeddable) and the admins' pages
to create forms and set them up (``/channels/webform/``)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from csp.constants import SELF
from csp.decorators import csp_replace
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt, xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from channels_adapters.webform import guard, payloads
from channels_adapters.webform.config import form_config, simulated_secret
from channels_adapters.webform.connect import webform_connect, webform_settings_set
from channels_adapters.webform.forms import ConnectForm, ContactForm, SettingsForm
from channels_adapters.webform.submissions import submission_store
from inbox.i18n import interface_languages
from inbox.models import ChannelAccount
from inbox.permissions import can_manage_channels

logger = logging.getLogger(__name__)
RECEIPT_SALT = "webform-receipt"


def _framable(request: HttpRequest, response: HttpResponse, origins: tuple[str, ...]) -> HttpResponse:
    """This page (and only the form's pages) may be framed by the form's listed origins and by
    this site (the settings page previews it): CSP ``frame-ancestors``, through django-csp's
    per-view decorator. X-Frame-Options cannot list origins, so it steps aside when there are
    any (browsers that know CSP ignore it then anyway); without any, SAMEORIGIN."""
    policy = csp_replace({"frame-ancestors": [SELF, *origins]})
    frame = xframe_options_exempt if origins else xframe_options_sameorigin
    return frame(policy(lambda _request: response))(request)


def _account(slug: str) -> ChannelAccount:
    account = ChannelAccount.objects.filter(platform=payloads.PLATFORM, external_id=slug[:100]).first()
    if account is None or account.status == ChannelAccount.Status.DISABLED:
        raise Http404
    return account


def _language(request: HttpRequest) -> None:
    """The visitor's browser language (LocaleMiddleware) among the six, unless the embedding
    page asks for one with ``?lang=`` (its own language)."""
    wanted = request.GET.get("lang", "")
    if wanted in interface_languages():
        translation.activate(wanted)
        request.LANGUAGE_CODE = wanted


def _same_site(request: HttpRequest) -> bool:
    """A browser names the page a form was posted from in ``Origin``: ours (the form's page,
    framed or not), or none (an older browser). Another site's page posting here is refused."""
    origin = request.headers.get("Origin", "")
    if not origin or origin == "null":
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.get_host()


@csrf_exempt  # see guard.py: the signed form token replaces the CSRF cookie, which a framed form lacks
@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest, slug: str) -> HttpResponse:
    account = _account(slug)
    _language(request)
    config = form_config(account)
    response = _contact(request, account, config)
    response["Cache-Control"] = "no-store"  # each page carries a one-time token
    return _framable(request, response, config.allowed_origins)


def _page(request, account, config, form, *, status=200, notice="", challenge=None) -> HttpResponse:
    slug = account.external_id
    attack = guard.under_attack(slug) if challenge is None else challenge
    token_value = guard.token_issue(slug, challenge=attack)
    token = guard.token_read(slug, token_value)
    data = form.data.copy() if form.is_bound else None
    if data is not None:  # a fresh token and challenge; what the citizen typed stays
        for name in ("token", "pow", "answer", "hp_url"):
            data.pop(name, None)
        data["token"] = token_value
        form.data = data
    else:
        form.initial["token"] = token_value
    form.fields["consent"].label = config.consent()
    if form.is_bound:
        form.mark_errors()
    return render(request, "channels_adapters/webform/form.html", {
        "account": account, "form": form, "notice": notice, "challenge": token.challenge,
        "pow_bits": guard.pow_bits(), "question": guard.question_text(token),
        "action": request.get_full_path(),
    }, status=status)


def _refused(text: str) -> HttpResponse:
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


def _contact(request: HttpRequest, account: ChannelAccount, config) -> HttpResponse:
    slug = account.external_id
    if request.method == "GET":
        return _page(request, account, config, ContactForm())
    form = ContactForm(request.POST)
    if not _same_site(request):
        logger.warning("webform %s: a post from another site (%s) refused", slug, request.headers.get("Origin"))
        return HttpResponse(_("This form can only be sent from its own page."), status=403,
                            content_type="text/plain; charset=utf-8")
    guard.load_count(request, slug)
    if guard.posts_flooding(request, slug):
        return _page(request, account, config, form, status=429, notice=_(
            "Too many messages have been sent from your connection in the last minutes. Your text is kept "
            "below: please send it again in a few minutes."))
    try:
        token = guard.token_read(slug, request.POST.get("token", ""))
    except guard.TokenInvalid as exc:
        if exc.reason != "expired":
            # A browser always posts the token of the page it was given: a forged or missing one is a
            # program's. Answered in a line, not with a page (a flood costs little).
            return _refused(_("The form could not be checked. Reload the page and send it again."))
        return _page(request, account, config, form, status=400, notice=_(
            "The form was open for a long time. Please check it and send it again."))
    if not guard.nonce_spend(slug, token):
        return _page(request, account, config, form, status=400, notice=_(
            "This form was already sent once. If you did not see a reference number, send it again."))
    if request.POST.get("hp_url"):
        logger.info("webform %s: honeypot filled; refused", slug)
        return _refused(_("Your message could not be accepted: a field that must stay empty was filled in. "
                          "Reload the page and send it again."))
    if guard.too_fast(token):
        return _page(request, account, config, form, status=400, notice=_(
            "The form was sent very quickly after it opened. Please check it and send it again."))
    if guard.under_attack(slug) and not guard.challenge_passed(
            token, pow_answer=request.POST.get("pow", ""), question_answer=request.POST.get("answer", "")):
        notice = (_("The answer to the question was not right. Please try again.") if token.challenge else _(
            "Many messages are arriving right now, so we need one more check. Answer the question below (or "
            "wait a moment while your browser does the check) and send the form again."))
        return _page(request, account, config, form, status=400, notice=notice, challenge=True)
    if not form.is_valid():
        return _page(request, account, config, form, status=400)
    data = form.cleaned_data
    email = data["email"] if data["reply_by"] == "email" or data["email"] else ""
    if guard.submissions_limited(request, slug, email, increment=False):
        return _page(request, account, config, form, status=429, notice=_(
            "Several messages have already been sent from your connection or with this e-mail address in the "
            "last hour. Your text is kept below: please send it again later."))
    reference = submission_store(
        account, name=data["name"], email=email, phone=data["phone"], message=data["message"],
        reply_by=data["reply_by"], consent_text=config.consent(), language=translation.get_language() or "",
        user_agent=request.headers.get("User-Agent", ""),
    )
    guard.submissions_limited(request, slug, email, increment=True)
    receipt = signing.dumps({"r": reference, "b": data["reply_by"]}, salt=RECEIPT_SALT)
    lang = request.GET.get("lang", "")
    url = reverse("webform_public:sent", args=[slug]) + f"?r={receipt}" + (f"&lang={lang}" if lang else "")
    return redirect(url, permanent=False)


@require_GET
def sent(request: HttpRequest, slug: str) -> HttpResponse:
    """The receipt: the reference number, from a signed value only the sender was given."""
    account = _account(slug)
    _language(request)
    try:
        receipt = signing.loads(request.GET.get("r", ""), salt=RECEIPT_SALT, max_age=24 * 3600)
    except signing.BadSignature:
        raise Http404 from None
    response = render(request, "channels_adapters/webform/sent.html", {
        "account": account, "reference": receipt["r"], "reply_by": receipt["b"],
        "again": reverse("webform_public:contact", args=[slug]) + (
            f"?lang={request.GET['lang']}" if request.GET.get("lang") in interface_languages() else ""),
    })
    response["Cache-Control"] = "no-store"
    return _framable(request, response, form_config(account).allowed_origins)


# --- admins -----------------------------------------------------------------------------------

def _require_admin(request: HttpRequest) -> None:
    if not can_manage_channels(request.user):
        raise PermissionDenied(_("Only admins connect channel accounts."))


@login_required
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest) -> HttpResponse:
    """The list of forms, and a new one."""
    _require_admin(request)
    form = ConnectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        account = webform_connect(user=request.user, slug=form.cleaned_data["slug"], name=form.cleaned_data["name"],
                                  default_team=form.cleaned_data["default_team"])
        flash.success(request, _("The form %(name)s is ready. Set it up below.") % {"name": account.name})
        return redirect("webform:settings", pk=account.pk)
    accounts = list(ChannelAccount.objects.filter(platform=payloads.PLATFORM).select_related("default_team"))
    return render(request, "channels_adapters/webform/connect.html", {"form": form, "accounts": accounts},
                  status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Consent text, embedding origins, the e-mail account answers leave from, and the snippet."""
    _require_admin(request)
    account = get_object_or_404(ChannelAccount, pk=pk, platform=payloads.PLATFORM)
    config = form_config(account)
    form = SettingsForm(request.POST or None, initial={
        "consent_text": config.consent_text, "allowed_origins": "\n".join(config.allowed_origins),
        "answer_account": config.answer_account,
    })
    if request.method == "POST" and form.is_valid():
        webform_settings_set(user=request.user, account=account, **form.cleaned_data)
        flash.success(request, _("Saved the settings of %(name)s.") % {"name": account.name})
        return redirect("webform:settings", pk=account.pk)
    url = request.build_absolute_uri(reverse("webform_public:contact", args=[account.external_id]))
    secret = config.webhook_secret or (simulated_secret(account.external_id) if account.simulated else "")
    return render(request, "channels_adapters/webform/settings.html", {
        "account": account, "form": form, "url": url,
        "snippet": f'<iframe src="{url}" title="{escape(account.name)}" width="100%" height="900" '
                   f'loading="lazy"></iframe>',
        "webhook_url": request.build_absolute_uri(reverse("webhooks:receive", args=["webform"])),
        "webhook_secret": secret, "under_attack": guard.under_attack(account.external_id),
    }, status=400 if request.method == "POST" else 200)
