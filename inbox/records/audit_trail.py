"""Reading the audit trail: admins read all of it, supervisors what concerns their teams
(the teams themselves, their conversations, their members' own actions and changes to them);
search by person, object, verb and period, newest first in keyset pages; CSV streamed."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from inbox.models import AuditEvent, Conversation
from inbox.permissions import ADMIN, SUPERVISE, role_names, team_ids_for_user

PAGE_SIZE = 50


def can_read_trail(user) -> bool:
    return bool(user.is_authenticated and user.is_active and (is_records_admin(user) or team_ids_for_user(user, SUPERVISE)))


def is_records_admin(user) -> bool:
    return bool(user.is_authenticated and user.is_active and (user.is_superuser or ADMIN in role_names(user)))


def trail_for_user(user) -> QuerySet[AuditEvent]:
    if not user.is_authenticated or not user.is_active:
        return AuditEvent.objects.none()
    if is_records_admin(user):
        return AuditEvent.objects.all()
    team_ids = team_ids_for_user(user, SUPERVISE)
    if not team_ids:
        return AuditEvent.objects.none()
    from guardian.models import UserObjectPermission

    conversation_ids = Conversation.objects.filter(team_id__in=team_ids).annotate(
        key=Cast("id", CharField())).values("key")
    member_ids = UserObjectPermission.objects.filter(
        content_type__app_label="inbox", content_type__model="team", object_pk__in=[str(t) for t in team_ids],
    ).values("user_id")
    return AuditEvent.objects.filter(
        Q(target_type="inbox.conversation", target_id__in=conversation_ids)
        | Q(target_type="inbox.team", target_id__in=[str(t) for t in team_ids])
        | Q(actor_id__in=member_ids)
        | Q(target_type="auth.user", target_id__in=get_user_model().objects.filter(pk__in=member_ids).annotate(
            key=Cast("id", CharField())).values("key"))
    )


@dataclass(frozen=True)
class TrailFilter:
    person: str = ""  # a username (or part of one); "system" for events without an actor
    target_type: str = ""  # e.g. inbox.conversation
    target_id: str = ""
    verb: str = ""  # exact, or a prefix ending in "." ("conversation.")
    date_from: date | None = None
    date_to: date | None = None
    before: int | None = None  # keyset: events with a smaller id


def trail_search(user, f: TrailFilter) -> QuerySet[AuditEvent]:
    qs = trail_for_user(user)
    if f.person == "system":
        qs = qs.filter(actor__isnull=True)
    elif f.person:
        qs = qs.filter(actor__username__iexact=f.person)
    if f.target_type:
        qs = qs.filter(target_type=f.target_type)
    if f.target_id:
        qs = qs.filter(target_id=f.target_id)
    if f.verb.endswith("."):
        qs = qs.filter(verb__startswith=f.verb)
    elif f.verb:
        qs = qs.filter(verb=f.verb)
    tz = timezone.get_default_timezone()
    if f.date_from:
        qs = qs.filter(created_at__gte=datetime.combine(f.date_from, time.min, tzinfo=tz))
    if f.date_to:
        qs = qs.filter(created_at__lt=datetime.combine(f.date_to + timedelta(days=1), time.min, tzinfo=tz))
    return qs.select_related("actor").order_by("-id")


def trail_page(user, f: TrailFilter, *, size: int = PAGE_SIZE) -> tuple[list[AuditEvent], int | None]:
    """One page, newest first, and the id to continue before (keyset: a page costs the same
    at the millionth event)."""
    qs = trail_search(user, f)
    if f.before:
        qs = qs.filter(id__lt=f.before)
    rows = list(qs[: size + 1])
    if len(rows) > size:
        return rows[:size], rows[size - 1].id
    return rows, None


def trail_verbs() -> list[str]:
    """The verbs in use, for the filter's suggestions (a small, indexed DISTINCT)."""
    return list(AuditEvent.objects.order_by("verb").values_list("verb", flat=True).distinct()[:500])


CSV_HEADER = ["id", "created_at", "actor", "verb", "target_type", "target_id", "data", "seal_seq", "chain_hash"]


class _Echo:
    def write(self, value):
        return value


def trail_csv_rows(user, f: TrailFilter) -> Iterator[str]:
    """CSV lines, read from the database in chunks while they are sent."""
    import json

    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(CSV_HEADER)
    for event in trail_search(user, f).iterator(chunk_size=2000):
        yield writer.writerow([
            event.pk, event.created_at.isoformat(), _cell(event.actor.get_username() if event.actor else ""),
            _cell(event.verb), event.target_type, _cell(event.target_id),
            _cell(json.dumps(event.data, ensure_ascii=False, sort_keys=True, default=str)),
            event.seal_seq if event.seal_seq is not None else "", event.chain_hash,
        ])


def _cell(value: str) -> str:
    """A spreadsheet must not read a cell as a formula (CSV injection): quote it as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
