from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("citizen_inbox")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["inbox", "routing", "channels_adapters"])


@signals.task_prerun.connect
def db_connections_check(sender=None, **kwargs) -> None:
    """Drop a database connection that broke (PostgreSQL restarted) before the next task.

    Celery's Django fixup closes connections only every CELERY_DB_REUSE_MAX tasks: after a
    restart a worker failed every task on its dead connection until then (tests/chaos).
    This is Django's own end-of-request check; it queries only after an error.
    """
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # in-process: the caller's connection and transaction are not ours to close
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        connection.close_if_unusable_or_obsolete()
