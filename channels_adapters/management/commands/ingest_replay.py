"""Read again what could not be read, after a parser fix: quarantined items and unreadable deliveries."""

from __future__ import annotations

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from channels_adapters.replay import items_replay, open_items
from inbox.models import QuarantinedItem


class Command(BaseCommand):
    help = "Replay quarantined items (and unreadable deliveries): one, a selection, or all since a date."

    def add_arguments(self, parser):
        parser.add_argument("--item", type=int, action="append", default=[], help="a quarantined item id (repeatable)")
        parser.add_argument("--since", help="every open item quarantined since this date (YYYY-MM-DD) or time (ISO 8601)")
        parser.add_argument("--platform", help="only items of this platform")
        parser.add_argument("--all", action="store_true", help="every open item")
        parser.add_argument("--reason", default="", help="why (kept in the audit trail)")

    def handle(self, *args, **options):
        if not (options["item"] or options["since"] or options["all"]):
            raise CommandError("Say which items: --item ID, --since DATE or --all.")
        since = _since(options["since"]) if options["since"] else None
        items = open_items(since=since, platform=options["platform"])
        if options["item"]:
            items = items.filter(id__in=options["item"])
        replayed = items_replay(list(items), actor=None, reason=options["reason"] or "manage.py ingest_replay", now=True)
        still = QuarantinedItem.objects.filter(raw_event_id__in=replayed, resolved_at__isnull=True).count()
        self.stdout.write(f"{len(replayed)} event(s) replayed; {still} item(s) still quarantined.")


def _since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--since {value!r} is not a date or an ISO 8601 time") from exc
    if len(value) == 10:
        parsed = datetime.combine(parsed.date(), time.min)
    return parsed if parsed.tzinfo else timezone.make_aware(parsed)
