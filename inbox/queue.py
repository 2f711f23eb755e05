"""Enqueue Celery tasks only once the surrounding transaction has committed."""

from __future__ import annotations

from functools import partial

from django.db import transaction


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """A ``.delay()`` inside an open transaction could run before its rows exist: never do it."""
    transaction.on_commit(partial(task.apply_async, args=args, kwargs=kwargs))
