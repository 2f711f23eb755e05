"""Exports of the public record: a freedom-of-information export (a period, a channel account,
a conversation or a Person, as the requester may see them) or a data-subject access export
(everything held about a Person; admins). Built in the background into one self-contained
ZIP, downloaded by its requester only, deleted when it expires.

The archive::

    index.html                      the conversations, linked to their transcripts
    transcript.css                  the transcripts' only style sheet (no external resource)
    export.json                     what was asked, by whom, when; counts
    person.json, audit.json         data-subject exports: the Person, their contacts, the audit
                                    events about them, their holds
    conversations/<id>/messages.json   every message with its revisions and delivery facts
    conversations/<id>/transcript.html a readable transcript, every text escaped
    raw/<raw event id>.json         the raw payload a message (or a revision) came in
    manifest.json, manifest.sha256  SHA-256 of every other file (``sha256sum -c manifest.sha256``)

A raw delivery that also carried messages outside the export (a batch webhook) is not
copied: its entry says so and gives the SHA-256 of its body, so the record can still be
matched against the archive without showing other people's messages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import zipfile
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from inbox.audit import audit_record, audit_record_many
from inbox.models import (
    AuditEvent,
    ChannelAccount,
    Contact,
    Conversation,
    LegalHold,
    Message,
    MessageRevision,
    Person,
    RawEvent,
    RecordExport,
)
from inbox.queue import enqueue_on_commit
from inbox.selectors import conversations_for_user

logger = logging.getLogger(__name__)

Kind, Status = RecordExport.Kind, RecordExport.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)


# --- Asking -------------------------------------------------------------------------------------


def export_request(*, requester, kind: str, scope: dict) -> RecordExport:
    """Record the request (audited) and build it after commit. ``scope`` was checked by the
    caller against what the requester may see (inbox/records/forms.py)."""
    with transaction.atomic():
        export = RecordExport.objects.create(requester=requester, kind=kind, scope=scope)
        audit_record(requester, "record_export.request", export, kind=kind, scope=scope)
        enqueue_on_commit("inbox.records_export_build", export.pk)
    return export


def exports_for_user(user) -> QuerySet[RecordExport]:
    """A user's own exports: nobody else's, whatever their role."""
    if not user.is_authenticated:
        return RecordExport.objects.none()
    return RecordExport.objects.filter(requester=user)


def export_file_path(export: RecordExport) -> Path:
    return Path(settings.RECORDS_EXPORT_DIR) / f"{export.uuid}.zip"


def export_download(export: RecordExport, user) -> Path:
    """The archive's path, for its requester; audited. Raises ``RecordExport.DoesNotExist``
    for anyone else (a 404) and ``FileNotFoundError`` once it expired."""
    if export.requester_id != user.pk:
        raise RecordExport.DoesNotExist
    path = export_file_path(export)
    if export.status != Status.READY or not path.exists():
        raise FileNotFoundError(path)
    audit_record(user, "record_export.download", export, kind=export.kind, sha256=export.sha256)
    return path


def download_name(export: RecordExport) -> str:
    return f"citizen-inbox-{export.kind}-{export.created_at:%Y%m%d}-{str(export.uuid)[:8]}.zip"


# --- What goes in -------------------------------------------------------------------------------


def _period(scope: dict) -> tuple[datetime | None, datetime | None]:
    """Whole local days: ``date_to`` is included."""
    tz = timezone.get_default_timezone()
    start = end = None
    if scope.get("date_from"):
        start = datetime.combine(date.fromisoformat(scope["date_from"]), time.min, tzinfo=tz)
    if scope.get("date_to"):
        end = datetime.combine(date.fromisoformat(scope["date_to"]) + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def export_conversations(export: RecordExport) -> tuple[QuerySet[Conversation], Q]:
    """The conversations in the export and the filter on their messages. An FOI export holds
    what its requester may see (checked again here, at build time); a data-subject export
    everything about the Person (admins ask for those)."""
    scope = export.scope
    messages = Q()
    start, end = _period(scope)
    if start:
        messages &= Q(sent_at__gte=start)
    if end:
        messages &= Q(sent_at__lt=end)
    if export.kind == Kind.DSAR:
        person_id = scope["person"]
        qs = Conversation.objects.filter(
            Q(contact__person_id=person_id) | Q(messages__author_contact__person_id=person_id)
        ).distinct()
        # In someone else's thread, only the Person's own messages.
        messages &= Q(conversation__contact__person_id=person_id) | Q(author_contact__person_id=person_id)
    else:
        qs = conversations_for_user(export.requester)
        if scope.get("account"):
            qs = qs.filter(account_id=scope["account"])
        if scope.get("conversation"):
            qs = qs.filter(pk=scope["conversation"])
        if scope.get("person"):
            qs = qs.filter(contact__person_id=scope["person"])
        if not scope.get("notes"):
            messages &= ~Q(direction=Message.Direction.NOTE)
    if start or end:
        qs = qs.filter(pk__in=Message.objects.filter(messages).values("conversation_id"))
    return qs.order_by("id"), messages


def _iso(value):
    return value.isoformat() if value else None


def _contact_json(contact: Contact | None) -> dict | None:
    if contact is None:
        return None
    return {"id": contact.pk, "platform": contact.platform, "external_id": contact.external_id,
            "handle": contact.handle, "name": contact.name, "person": contact.person_id}


def _user_json(user) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user.get_full_name()}


def _message_json(m: Message) -> dict:
    return {
        "id": m.pk, "uuid": str(m.uuid), "direction": m.direction, "kind": m.kind, "visibility": m.visibility,
        "external_id": m.external_id, "in_reply_to": m.in_reply_to,
        "author_contact": _contact_json(m.author_contact), "author_user": _user_json(m.author_user),
        "automatic": m.automatic, "text": m.text, "attachments": m.attachments,
        "sent_at": _iso(m.sent_at), "received_at": _iso(m.received_at), "edited_at": _iso(m.edited_at),
        "deleted_at": _iso(m.deleted_at), "hidden_at": _iso(m.hidden_at),
        "delivery_status": m.delivery_status, "delivered_at": _iso(m.delivered_at), "raw_event": m.raw_event_id,
        "revisions": [
            {"action": r.action, "previous_text": r.previous_text, "previous_attachments": r.previous_attachments,
             "occurred_at": _iso(r.occurred_at), "raw_event": r.raw_event_id}
            for r in m.revisions.all()
        ],
    }


def _conversation_json(c: Conversation) -> dict:
    return {
        "id": c.pk, "account": {"id": c.account_id, "platform": c.account.platform, "name": c.account.name,
                                "handle": c.account.handle},
        "kind": c.kind, "thread_key": c.thread_key, "contact": _contact_json(c.contact),
        "team": c.team.name if c.team_id else None, "status": c.status, "subject": c.subject,
        "language": c.language, "created_at": _iso(c.created_at), "first_inbound_at": _iso(c.first_inbound_at),
        "first_response_at": _iso(c.first_response_at), "resolved_at": _iso(c.resolved_at),
    }


def _raw_json(raw: RawEvent, *, withheld: bool) -> dict:
    body = bytes(raw.body)
    entry = {"id": raw.pk, "platform": raw.platform, "account": raw.account_id, "source": raw.source,
             "received_at": _iso(raw.received_at), "body_sha256": hashlib.sha256(body).hexdigest()}
    if withheld:
        entry["withheld"] = "This delivery also carried messages outside the export; its body is not copied."
        return entry
    entry["headers"] = raw.headers
    try:
        entry["body_text"] = body.decode("utf-8")
    except UnicodeDecodeError:
        entry["body_base64"] = base64.b64encode(body).decode()
    return entry


def _dumps(data) -> bytes:
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2, sort_keys=True).encode()


class _Archive:
    """A ZIP written file by file, hashing each file as it goes in."""

    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.files: list[dict] = []

    def add(self, name: str, data: bytes) -> None:
        self.zip.writestr(name, data)
        self.files.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})

    def close(self) -> None:
        self.zip.writestr("manifest.json", _dumps({"algorithm": "SHA-256", "files": self.files}))
        self.zip.writestr("manifest.sha256", "".join(f"{f['sha256']}  {f['path']}\n" for f in self.files))
        self.zip.close()


# --- Building -----------------------------------------------------------------------------------


def export_build(export_id: int) -> RecordExport | None:
    """Claim the export and build its archive; safe to run twice (a second run of a finished
    export does nothing, a run after a crash builds it again from the start)."""
    claimed = RecordExport.objects.filter(pk=export_id, status__in=ACTIVE).update(
        status=Status.RUNNING, progress_done=0, error=""
    )
    if not claimed:
        return None
    export = RecordExport.objects.select_related("requester").get(pk=export_id)
    directory = Path(settings.RECORDS_EXPORT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    final, part = export_file_path(export), directory / f"{export.uuid}.zip.part"
    try:
        counts = _write_archive(export, part)
        os.replace(part, final)
        digest = hashlib.sha256(final.read_bytes()).hexdigest()
        now = timezone.now()
        RecordExport.objects.filter(pk=export.pk).update(
            status=Status.READY, finished_at=now, file_name=download_name(export), file_size=final.stat().st_size,
            sha256=digest, counts=counts, expires_at=now + timedelta(hours=settings.RECORDS_EXPORT_TTL_HOURS),
            progress_done=counts["conversations"] + 1,
        )
        audit_record(None, "record_export.ready", export, sha256=digest, **counts)
    except Exception as exc:
        logger.exception("export %s failed", export.uuid)
        part.unlink(missing_ok=True)
        RecordExport.objects.filter(pk=export.pk).update(status=Status.FAILED, error=str(exc)[:2000],
                                                         finished_at=timezone.now())
        raise
    export.refresh_from_db()
    return export


def _write_archive(export: RecordExport, path: Path) -> dict:
    conversations, message_filter = export_conversations(export)
    ids = list(conversations.values_list("id", flat=True))
    RecordExport.objects.filter(pk=export.pk).update(progress_total=len(ids) + 1)
    archive = _Archive(path)
    counts = defaultdict(int)
    index: list[dict] = []
    raw_ids: set[int] = set()
    exported_messages: set[int] = set()
    css = render_to_string("records/export/transcript.css").encode()
    archive.add("transcript.css", css)
    messages_qs = (
        Message.objects.filter(message_filter)
        .select_related("author_contact", "author_user")
        .prefetch_related(Prefetch("revisions", queryset=MessageRevision.objects.order_by("occurred_at", "id")))
        .order_by("sent_at", "id")
    )
    for start in range(0, len(ids), 50):
        chunk = ids[start:start + 50]
        by_conversation = defaultdict(list)
        for message in messages_qs.filter(conversation_id__in=chunk):
            by_conversation[message.conversation_id].append(message)
        for done, conversation in enumerate(
            Conversation.objects.filter(id__in=chunk).select_related("account", "contact", "team").order_by("id"),
            start=start + 1,
        ):
            messages = by_conversation.get(conversation.pk, [])
            data = {"conversation": _conversation_json(conversation), "messages": [_message_json(m) for m in messages]}
            folder = f"conversations/{conversation.pk}"
            archive.add(f"{folder}/messages.json", _dumps(data))
            archive.add(f"{folder}/transcript.html", render_to_string(
                "records/export/transcript.html", {"conversation": conversation, "messages": messages, "export": export}
            ).encode())
            for m in messages:
                exported_messages.add(m.pk)
                raw_ids.update(x for x in [m.raw_event_id, *(r.raw_event_id for r in m.revisions.all())] if x)
                counts["revisions"] += len(m.revisions.all())
            counts["messages"] += len(messages)
            counts["conversations"] += 1
            index.append({"conversation": conversation, "count": len(messages)})
            RecordExport.objects.filter(pk=export.pk).update(progress_done=done)
    # A delivery is copied whole only when every message stored from it is in the export.
    outside = set(
        Message.objects.filter(raw_event_id__in=raw_ids).exclude(pk__in=exported_messages)
        .values_list("raw_event_id", flat=True)
    ) if raw_ids else set()
    for raw in RawEvent.objects.filter(id__in=raw_ids).order_by("id"):
        archive.add(f"raw/{raw.pk}.json", _dumps(_raw_json(raw, withheld=raw.pk in outside)))
        counts["raw_payloads" if raw.pk not in outside else "raw_payloads_withheld"] += 1
    if export.kind == Kind.DSAR:
        _add_subject(archive, export, ids, counts)
    archive.add("index.html", render_to_string(
        "records/export/index.html", {"export": export, "index": index, "counts": counts,
                                      "scope": scope_description(export)},
    ).encode())
    archive.add("export.json", _dumps({
        "export": str(export.uuid), "kind": export.kind, "scope": export.scope,
        "requested_by": _user_json(export.requester), "requested_at": _iso(export.created_at),
        "generated_at": _iso(timezone.now()), "counts": dict(counts),
    }))
    archive.close()
    return dict(counts)


def _add_subject(archive: _Archive, export: RecordExport, conversation_ids: list[int], counts) -> None:
    person = Person.objects.get(pk=export.scope["person"])
    contacts = list(Contact.objects.filter(person=person).order_by("id"))
    archive.add("person.json", _dumps({
        "person": {"id": person.pk, "display_name": person.display_name, "notes": person.notes,
                   "created_at": _iso(person.created_at)},
        "contacts": [{**_contact_json(c), "profile": c.profile, "created_at": _iso(c.created_at),
                      "updated_at": _iso(c.updated_at)} for c in contacts],
        "legal_holds": [
            {"id": h.pk, "conversation": h.conversation_id, "reason": h.reason, "set_at": _iso(h.set_at),
             "released_at": _iso(h.released_at)}
            for h in LegalHold.objects.filter(Q(person=person) | Q(conversation_id__in=conversation_ids))
        ],
    }))
    targets = (
        Q(target_type="inbox.person", target_id=str(person.pk))
        | Q(target_type="inbox.contact", target_id__in=[str(c.pk) for c in contacts])
        | Q(target_type="inbox.conversation", target_id__in=[str(i) for i in conversation_ids])
    )
    events = [
        {"id": e.pk, "at": _iso(e.created_at), "actor": e.actor_id, "verb": e.verb,
         "target_type": e.target_type, "target_id": e.target_id, "data": e.data}
        for e in AuditEvent.objects.filter(targets).order_by("id")
    ]
    archive.add("audit.json", _dumps(events))
    counts["audit_events"] = len(events)
    counts["contacts"] = len(contacts)


def scope_names(exports: list[RecordExport]) -> dict:
    """The accounts and Persons the exports name, in two queries (a list page needs no more)."""
    account_ids = {e.scope["account"] for e in exports if e.scope.get("account")}
    person_ids = {e.scope["person"] for e in exports if e.scope.get("person")}
    return {
        "account": {a.pk: str(a) for a in ChannelAccount.objects.filter(pk__in=account_ids)} if account_ids else {},
        "person": {p.pk: str(p) for p in Person.objects.filter(pk__in=person_ids)} if person_ids else {},
    }


def scope_description(export: RecordExport, names: dict | None = None) -> list[tuple[str, str]]:
    """What was asked, in words, for the pages and the archive's index."""
    from django.utils.translation import gettext as _

    names = names if names is not None else scope_names([export])
    scope, parts = export.scope, []
    if scope.get("date_from") or scope.get("date_to"):
        parts.append((_("Period"), f"{scope.get('date_from') or '…'} – {scope.get('date_to') or '…'}"))
    if scope.get("account"):
        parts.append((_("Channel account"), names["account"].get(scope["account"], f"#{scope['account']}")))
    if scope.get("conversation"):
        parts.append((_("Conversation"), f"#{scope['conversation']}"))
    if scope.get("person"):
        parts.append((_("Person"), names["person"].get(scope["person"], f"#{scope['person']}")))
    if export.kind == Kind.FOI:
        parts.append((_("Internal notes"), _("included") if scope.get("notes") else _("left out")))
    return parts


# --- Expiry -------------------------------------------------------------------------------------


def exports_expire(now: datetime | None = None) -> int:
    now = now or timezone.now()
    expired = list(RecordExport.objects.filter(status=Status.READY, expires_at__lt=now))
    for export in expired:
        export_file_path(export).unlink(missing_ok=True)
    RecordExport.objects.filter(pk__in=[e.pk for e in expired]).update(status=Status.EXPIRED)
    audit_record_many(None, "record_export.expire", [(e, {"sha256": e.sha256}) for e in expired])
    return len(expired)
