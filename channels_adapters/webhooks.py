"""The one webhook endpoint: verify on the raw bytes, store, answer at once.

Parsing and routing happen in workers. A request that is not signed by the platform is
answered 401/403 and leaves nothing but a log line.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from channels_adapters.base import MalformedPayload, WebhookRejected
from channels_adapters.pipeline import ingest_wakeup
from channels_adapters.registry import UnknownPlatform, adapter_for_webhook
from inbox.models import ChannelAccount, RawEvent
from inbox.services import raw_event_record

logger = logging.getLogger("channels_adapters.webhooks")

MAX_BODY_BYTES = 10 * 1024 * 1024


def _client(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "?")


@csrf_exempt
def webhook(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        adapter = adapter_for_webhook(slug)
    except UnknownPlatform:
        return JsonResponse({"error": "unknown platform"}, status=404)
    if request.method == "GET":
        try:
            return adapter.handshake(request)
        except WebhookRejected as exc:
            logger.warning("webhook %s: handshake rejected from %s: %s", slug, _client(request), exc.reason)
            return JsonResponse({"error": exc.reason}, status=exc.status)
    if request.method != "POST":
        return JsonResponse({"error": "method not allowed"}, status=405)
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
        logger.warning("webhook %s: body too large from %s", slug, _client(request))
        return JsonResponse({"error": "body too large"}, status=413)
    try:
        adapter.verify(request)
    except WebhookRejected as exc:
        logger.warning("webhook %s: rejected from %s: %s", slug, _client(request), exc.reason)
        return JsonResponse({"error": exc.reason}, status=exc.status)
    body = request.body
    try:
        if adapter.is_test_delivery(body):
            logger.info("webhook %s: test delivery from %s answered, not stored", slug, _client(request))
            return JsonResponse({"received": None, "test": True})
        account_ids = adapter.webhook_account_ids(body)
    except MalformedPayload as exc:
        logger.warning("webhook %s: malformed payload from %s: %s", slug, _client(request), exc)
        return JsonResponse({"error": f"malformed payload: {exc}"}, status=400)
    accounts = list(
        ChannelAccount.objects.filter(
            platform__in=adapter.account_platforms(), external_id__in=account_ids
        ).only("id")
    )
    if not accounts:
        logger.warning("webhook %s: no account for ids %s", slug, account_ids[:5])
        return JsonResponse({"error": "unknown account"}, status=404)
    headers = {name: request.headers[name] for name in adapter.kept_headers if name in request.headers}
    with transaction.atomic():
        raw = raw_event_record(
            platform=adapter.platform, body=body, headers=headers, source=RawEvent.Source.WEBHOOK,
            account=accounts[0] if len(accounts) == 1 else None,
        )
        transaction.on_commit(ingest_wakeup)
    return JsonResponse({"received": raw.id})
