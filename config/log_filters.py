"""Logging filters (loaded with the settings: nothing here may import Django models)."""

from __future__ import annotations

import logging


class WebhookRequestsLoggedByTheEndpoint(logging.Filter):
    """django.request logs every 4xx; the webhook endpoint logs its own rejections, once each
    and at most once a minute per flooding address, so a flood of forged requests cannot fill
    the log through Django's line either."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        path = getattr(request, "path", "")
        status = getattr(record, "status_code", 500)
        return not (path.startswith("/webhooks/") and status < 500)
