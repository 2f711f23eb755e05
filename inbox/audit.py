"""The audit trail: who did what to which object, and when; append-only and hash-chained."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from inbox.db import update_rows
from inbox.models import AuditEvent

SEAL_LOCK = 0x61756469  # "audi": the advisory lock sealers take turns on


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


# --- The hash chain ---------------------------------------------------------------------------
#
# Rows are written without waiting for one another (a lock at every insert would serialise
# every audited transaction: ingest, replies, assignments). A sealer, every minute, gives the
# committed rows their place in the chain in id order: ``seal_seq`` numbers them without gaps
# and ``chain_hash`` = SHA-256(previous hash + the row's canonical JSON). A row deleted or
# altered afterwards breaks the chain at that place; ``manage.py audit_verify`` walks it.

SEAL_AFTER = timedelta(seconds=5)  # a transaction still open holds lower ids; let it commit
GENESIS = "0" * 64


def audit_row_digest(previous: str, event: AuditEvent) -> str:
    row = {
        "id": event.id, "actor": event.actor_id, "verb": event.verb, "target_type": event.target_type,
        "target_id": event.target_id, "data": event.data, "created_at": event.created_at.isoformat(),
        "seq": event.seal_seq,
    }
    canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
    return hashlib.sha256((previous + canonical).encode()).hexdigest()


def audit_seal(*, batch: int = 5000, now=None) -> int:
    """Seal the committed, unsealed rows in id order; returns how many. Safe to run twice at
    once: sealers take turns (an advisory lock on PostgreSQL)."""
    now = now or timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK])
        last = AuditEvent.objects.filter(seal_seq__isnull=False).order_by("-seal_seq").only(
            "seal_seq", "chain_hash"
        ).first()
        seq, previous = (last.seal_seq, last.chain_hash) if last else (0, GENESIS)
        rows = list(
            AuditEvent.objects.filter(seal_seq__isnull=True, created_at__lt=now - SEAL_AFTER).order_by("id")[:batch]
        )
        for event in rows:
            seq += 1
            event.seal_seq = seq
            event.chain_hash = previous = audit_row_digest(previous, event)
        update_rows(AuditEvent, rows, ["seal_seq", "chain_hash"])
    return len(rows)


@dataclass
class ChainReport:
    sealed: int = 0
    unsealed: int = 0
    problems: list[str] = field(default_factory=list)


def audit_chain_verify(*, chunk: int = 10_000) -> ChainReport:
    """Walk the chain from the first row: every place numbered, every hash recomputed."""
    report = ChainReport(unsealed=AuditEvent.objects.filter(seal_seq__isnull=True).count())
    previous, expected = GENESIS, 1
    while True:
        rows = list(AuditEvent.objects.filter(seal_seq__gte=expected).order_by("seal_seq")[:chunk])
        if not rows:
            break
        for event in rows:
            if event.seal_seq != expected:
                report.problems.append(
                    f"rows {expected} to {event.seal_seq - 1} of the chain are missing (deleted?) before event {event.id}"
                )
                previous = event.chain_hash  # go on from here, to report every break
            elif audit_row_digest(previous, event) != event.chain_hash:
                report.problems.append(f"event {event.id} (place {event.seal_seq}) was altered")
                previous = event.chain_hash
            else:
                previous = event.chain_hash
            expected = event.seal_seq + 1
            report.sealed += 1
    # A row left out of the chain long after later ones were sealed was slipped in by hand
    # (with the sealer's columns empty); a transaction still open holds one for seconds only.
    stray = AuditEvent.objects.filter(
        seal_seq__isnull=True, id__lt=_last_sealed_id(), created_at__lt=timezone.now() - timedelta(hours=1)
    ).order_by("id").first()
    if stray is not None:
        report.problems.append(f"event {stray.id} is older than sealed events but was never sealed")
    return report


def _last_sealed_id() -> int:
    last = AuditEvent.objects.filter(seal_seq__isnull=False).order_by("-seal_seq").only("id").first()
    return last.id if last else 0
