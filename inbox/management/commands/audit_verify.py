"""Check the audit trail's hash chain: a row deleted or altered behind the application's back."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from inbox.audit import audit_chain_verify, audit_seal


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain (seal pending rows first with --seal)."

    def add_arguments(self, parser):
        parser.add_argument("--seal", action="store_true", help="seal the rows committed so far before verifying")

    def handle(self, *args, **options):
        if options["seal"]:
            while audit_seal():
                pass
        report = audit_chain_verify()
        for problem in report.problems:
            self.stderr.write(problem)
        summary = f"{report.sealed} sealed event(s) checked; {report.unsealed} not sealed yet."
        if report.problems:
            raise CommandError(f"The audit trail was tampered with: {len(report.problems)} problem(s). {summary}")
        self.stdout.write(f"The audit trail is intact. {summary}")
