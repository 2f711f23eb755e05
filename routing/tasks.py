"""Celery tasks of routing: thin, named, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from routing.assignment import assign_backlog as assign_backlog_run
from routing.sla_rollups import windows_prune
from routing.sla_scan import sla_scan as sla_scan_run


@shared_task(name="routing.sla_scan")
def sla_scan() -> dict:
    """Warnings, breaches and escalations that have come due (beat: every minute)."""
    result = sla_scan_run()
    return {"clocks": result.clocks, "events": result.events, "notifications": result.notifications}


@shared_task(name="routing.sla_rollups_prune")
def sla_rollups_prune() -> dict:
    """The dashboard's windows that ended days ago, never read again (beat: nightly)."""
    from django.utils import timezone

    return {"deleted": windows_prune(timezone.localdate())}


@shared_task(name="routing.assign_backlog")
def assign_backlog(team_ids: list[int] | None = None) -> dict:
    """Unassigned conversations to available officers, earliest due first, and take-backs
    (beat: every 30 s; also sent when an officer becomes available)."""
    result = assign_backlog_run(team_ids=team_ids)
    return {"assigned": result.assigned, "taken_back": result.taken_back}
