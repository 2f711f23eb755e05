from __future__ import annotations

from django.db import models

from inbox.models import AuditEvent


def audit_record(actor, verb: str, target: models.Model, **data) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        verb=verb,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data,
    )


def audit_record_many(actor, verb: str, items: list[tuple[models.Model, dict]]) -> None:
    actor = actor if getattr(actor, "is_authenticated", False) else None
    AuditEvent.objects.bulk_create(
        AuditEvent(actor=actor, verb=verb, target_type=target._meta.label_lower,
                   target_id=str(target.pk), data=data)
        for target, data in items
    )
