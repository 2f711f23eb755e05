"""Keeping a checked submission: stored as a RawEvent, exactly as the webhook endpoint stores a
delivery, and parsed and routed by the same workers (the form's page answers at once)."""

from __future__ import annotations

import json

from django.db import transaction
from django.utils import timezone

from channels_adapters.pipeline import ingest_wakeup
from channels_adapters.webform import payloads
from inbox.models import ChannelAccount, RawEvent
from inbox.services import raw_event_record


def submission_store(account: ChannelAccount, *, name: str, email: str, phone: str, message: str, reply_by: str,
                     consent_text: str, language: str, user_agent: str = "") -> str:
    """Store one submission for ``account``; return its reference (shown to the citizen)."""
    now = timezone.localtime()
    submission = payloads.Submission(
        form=account.external_id, reference=payloads.reference_new(now.year), submitted_at=now.isoformat(),
        name=name, email=email, phone=phone, message=message, reply_by=reply_by, consent_text=consent_text,
        language=language,
    )
    body = json.dumps(submission.as_json(), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **({"User-Agent": user_agent[:300]} if user_agent else {})}
    with transaction.atomic():
        raw_event_record(platform=payloads.PLATFORM, body=body, headers=headers, source=RawEvent.Source.WEBHOOK,
                         account=account)
        transaction.on_commit(ingest_wakeup)
    return submission.reference
