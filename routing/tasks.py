"""Celery tasks of routing: thin, named, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from routing.sla_scan import sla_scan as sla_scan_run


@shared_task(name="routing.sla_scan")
def sla_scan() -> dict:
    """Warnings, breaches and escalations that have come due (beat: every minute)."""
    result = sla_scan_run()
    return {"clocks": result.clocks, "events": result.events, "notifications": result.notifications}
