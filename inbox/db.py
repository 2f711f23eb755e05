"""Database helpers the ORM does not offer directly."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models
from django.db.models.constants import OnConflict


def insert_ignoring_conflicts(
    model: type[models.Model], objs: Sequence[models.Model], returning: Sequence[str]
) -> list[tuple]:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING <returning>``; only inserted rows come back.

    ``bulk_create(ignore_conflicts=True)`` cannot tell which rows were new, and "check,
    then insert" races with a concurrent worker: the database's answer is the only one
    that is right under redelivery. Works on PostgreSQL and SQLite >= 3.35.
    """
    if not objs:
        return []
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.primary_key and not f.generated]
    returning_fields = [opts.get_field(name) for name in returning]
    rows: list[tuple] = []
    for obj in objs:
        for f in fields:
            if f.get_default is not None and getattr(obj, f.attname) is None and f.has_default():
                setattr(obj, f.attname, f.get_default())
    # One statement per chunk; every chunk is one round trip.
    for start in range(0, len(objs), 500):
        chunk = list(objs[start : start + 500])
        result = model._base_manager._insert(
            chunk, fields=fields, returning_fields=returning_fields, on_conflict=OnConflict.IGNORE
        )
        rows.extend(row for row in (result or []) if row is not None)
    return rows
