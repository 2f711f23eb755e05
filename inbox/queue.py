"""Enqueue Celery tasks only once the surrounding transaction has committed.

Modules below the tasks (the ingest pipeline, outbound delivery) enqueue by the task's
registered name, so that ``tasks.py`` imports them and never the other way round. Task
names are ``"<app>.<task>"`` and live in ``<app>/tasks.py``.
"""

from __future__ import annotations

from functools import partial
from importlib import import_module

from celery import Task, current_app
from django.db import transaction


def task_named(name: str) -> Task:
    """The registered task called ``name``, importing its app's tasks module if needed."""
    if name not in current_app.tasks:
        import_module(f"{name.split('.', 1)[0]}.tasks")
    return current_app.tasks[name]


def enqueue_on_commit(task: Task | str, *args, **kwargs) -> None:
    """A ``.delay()`` inside an open transaction could run before its rows exist: never do it."""
    if isinstance(task, str):
        task = task_named(task)
    transaction.on_commit(partial(task.apply_async, args=args, kwargs=kwargs))
