"""The one webhook endpoint: verify on the raw bytes, store, answer at once.

Parsing and routing happen in workers. A request that is not signed by the platform is
answered 401/403 and leaves nothing but a log line.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_ratelimit.core import is_ratelimited
from redis.exceptions import RedisError

from channels_adapters.base import MalformedPayload, WebhookRejected
from channels_adapters.pipeline import ingest_wakeup
from channels_adapters.registry import UnknownPlatform, adapter_for_webhook
from config.client_ip import client_ip
from inbox.models import ChannelAccount, RawEvent
from inbox.services import raw_event_record

logger = logging.getLogger("channels_adapters.webhooks")

MAX_BODY_BYTES = 10 * 1024 * 1024
REJECTIONS = "webhook-rejected"


def _client(request: HttpRequest) -> str:
    return client_ip(request) or "?"


def _rejected(request: HttpRequest, slug: str, status: int, error: str, reason: str) -> JsonResponse:
    """Answer a request that is not a platform's delivery, and count it against its address.

    Forged requests cost a signature check and a log line each: past
    ``WEBHOOK_REJECTIONS_PER_MINUTE`` from one address, it is answered 429 before anything
    is read, and the log says so once a minute instead of once a request. Deliveries that
    verify never count, so a platform's own traffic is never slowed.
    """
    with _cache_may_be_down():
        is_ratelimited(request, group=REJECTIONS, key=_rate_key, rate=_rejection_rate(), increment=True)
    logger.warning("webhook %s: %s from %s", slug, reason, _client(request))
    return JsonResponse({"error": error}, status=status)


def _rate_key(group: str, request: HttpRequest) -> str:
    return _client(request)


def _rejection_rate() -> str:
    return f"{settings.WEBHOOK_REJECTIONS_PER_MINUTE}/m"


@contextmanager
def _cache_may_be_down():
    """The count lives in the cache (Redis): with Redis away, deliveries must still be
    stored (a 5xx would only make the platforms retry), so the guard steps aside."""
    try:
        yield
    except RedisError:
        logger.warning("webhook: the cache is unreachable; rejected requests are not counted meanwhile")


def _flooding(request: HttpRequest, slug: str) -> bool:
    flooding = False
    with _cache_may_be_down():
        flooding = is_ratelimited(request, group=REJECTIONS, key=_rate_key, rate=_rejection_rate(), increment=False)
    if not flooding:
        return False
    if cache.add(f"webhook-flood-logged:{_client(request)}", 1, timeout=60):
        logger.warning(
            "webhook %s: more than %s rejected requests a minute from %s; refusing them unread for now",
            slug, settings.WEBHOOK_REJECTIONS_PER_MINUTE, _client(request),
        )
    return True


@csrf_exempt
def webhook(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        adapter = adapter_for_webhook(slug)
    except UnknownPlatform:
        return JsonResponse({"error": "unknown platform"}, status=404)
    if _flooding(request, slug):
        return JsonResponse({"error": "too many rejected requests; try again later"}, status=429)
    if request.method == "GET":
        try:
            return adapter.handshake(request)
        except WebhookRejected as exc:
            return _rejected(request, slug, exc.status, exc.reason, f"handshake rejected: {exc.reason}")
    if request.method != "POST":
        return JsonResponse({"error": "method not allowed"}, status=405)
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
        return _rejected(request, slug, 413, "body too large", "body too large")
    try:
        adapter.verify(request)
    except WebhookRejected as exc:
        return _rejected(request, slug, exc.status, exc.reason, f"rejected: {exc.reason}")
    body = request.body
    try:
        if adapter.is_test_delivery(body):
            logger.info("webhook %s: test delivery from %s answered, not stored", slug, _client(request))
            return JsonResponse({"received": None, "test": True})
        account_ids = adapter.webhook_account_ids(request)
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
