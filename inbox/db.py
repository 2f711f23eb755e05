"""Database helpers the ORM does not offer directly."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models, router
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
    # One statement per chunk; every chunk is one round trip. (Model() already set defaults;
    # a conflicting single-row insert returns no row, hence the None filter.)
    for start in range(0, len(objs), 500):
        chunk = list(objs[start : start + 500])
        result = model._base_manager._insert(
            chunk, fields=fields, returning_fields=returning_fields, on_conflict=OnConflict.IGNORE
        )
        rows.extend(row for row in (result or []) if row is not None)
    return rows


def update_rows(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of many rows, each with its own values, in one statement per chunk.

    On PostgreSQL: ``UPDATE … FROM (VALUES …)``. Django's ``bulk_update`` builds a
    ``CASE WHEN`` per row and field, which costs more in Python than the update in SQL.
    """
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model._base_manager.bulk_update(objs, fields, batch_size=500)
        return
    opts = model._meta
    qn = connection.ops.quote_name
    pk = opts.pk
    columns = [opts.get_field(name) for name in fields]
    casts = [pk.db_type(connection), *(f.db_type(connection) for f in columns)]
    row_sql = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    names = ", ".join(qn(f.column) for f in (pk, *columns))
    assignments = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in columns)
    with connection.cursor() as cursor:
        for start in range(0, len(objs), 1000):
            chunk = objs[start : start + 1000]
            params = []
            for obj in chunk:
                params.append(pk.get_db_prep_value(obj.pk, connection))
                params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns)
            cursor.execute(
                f"UPDATE {qn(opts.db_table)} AS t SET {assignments} "  # noqa: S608 - names, not input
                f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) AS v({names}) "
                f"WHERE t.{qn(pk.column)} = v.{qn(pk.column)}",
                params,
            )
