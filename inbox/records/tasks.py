"""Tasks of the public record: thin, named, safe to run twice (registered by inbox/tasks.py)."""

from __future__ import annotations

from celery import shared_task

from inbox.records.exports import export_build, exports_expire
from inbox.records.retention import retention_run


@shared_task(name="inbox.records_export_build")
def export_build_task(export_id: int) -> str:
    """Build one export's archive (a finished one is left alone)."""
    export = export_build(export_id)
    return export.status if export else "skipped"


@shared_task(name="inbox.records_retention_run")
def retention_run_task() -> dict:
    """Nightly: pseudonymise what is past its account's retention period, batch by batch."""
    report = retention_run()
    return {"due": report.due, "held": report.held, **report.counts}


@shared_task(name="inbox.records_exports_expire")
def exports_expire_task() -> int:
    return exports_expire()
