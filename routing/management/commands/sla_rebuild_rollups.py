"""``manage.py sla_rebuild_rollups [--since YYYY-MM-DD] [--until YYYY-MM-DD]``: recompute the
SLA facts and the dashboard's window rollups from the ledger (routing/sla_rebuild.py)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from routing.sla_rebuild import first_day, rollups_rebuild


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date as YYYY-MM-DD") from exc


class Command(BaseCommand):
    help = "Recompute the SLA facts and the dashboard's rollups from the SLA ledger (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=_day, help="first day (default: the first clock's)")
        parser.add_argument("--until", type=_day, help="last day (default: today)")

    def handle(self, *args, since: date | None = None, until: date | None = None, **options):
        until = until or timezone.localdate()
        since = since or first_day()
        if since is None:
            self.stdout.write("No SLA clock yet: nothing to rebuild.")
            return
        if since > until:
            raise CommandError("--since is after --until")
        done = rollups_rebuild(since, until)
        self.stdout.write(f"Rebuilt {done['facts']} facts and {done['rollup_rows']} rollup rows "
                          f"for {since.isoformat()} to {until.isoformat()}.")
