"""Pseudonymise the conversations past their account's retention period (what the nightly
task does); --dry-run counts them per account and changes nothing."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from inbox.records.retention import retention_run


class Command(BaseCommand):
    help = "Pseudonymise conversations past their account's retention period (not those on legal hold)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would be done; change nothing")
        parser.add_argument("--batch", type=int, default=None, help="conversations per transaction")

    def handle(self, *args, **options):
        report = retention_run(dry_run=options["dry_run"], batch=options["batch"])
        for account, n in sorted(report.by_account.items()):
            self.stdout.write(f"  {account}: {n} conversation(s) past retention")
        self.stdout.write(f"{report.due} conversation(s) past retention, {report.held} on legal hold (left as they are).")
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was changed.")
            return
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing to do"
        self.stdout.write(f"Pseudonymised (run {report.run_id}): {counts}.")
