"""The dashboard's period rollups (``SlaRollup``): written as facts are, read by the dashboard,
recomputed by ``manage.py sla_rebuild_rollups``.

Why windows and not a daily histogram: a period is read as the rows of the windows ending
today (1, 7 or 30 days), not as a sum over its days. With a daily histogram of response
minutes per team and account, each of those (day, team, account) groups holds some forty
answers a day spread over a hundred minute values, so a month is as many histogram rows as
facts (70,000 rows for 36,000 facts on the bench: 200–280 ms to sum) — no gain. A window row
per (team, account, bucket) holds a whole month: the admin's 30 days are some 8,000 rows,
whatever the number of conversations. The price is on the write: a fact adds to the 38
windows that contain its day (one statement per batch).

Response minutes go into fixed buckets (``bucket_of``): to the minute below one hour, 5
minutes below 4 hours, 15 below 8 hours, 30 below a day, an hour below a week, a day below
30 days, then one bucket "30 days or more". A bucket counts as its lower bound, so medians and
percentiles are exact for whole minutes under an hour and otherwise low by less than the
bucket's width (docs/sla.md, and the dashboard says so).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from django.db import connection, transaction

from routing.models import SlaRollup

WINDOWS = (1, 7, 30)

# Measures (``SlaRollup.measure``).
OUTCOME = "outcome"  # bucket: an outcome code below
BUSINESS_HOLDING = "b_hold"  # business minutes to a holding reply
BUSINESS_SUBSTANTIVE = "b_subst"  # business minutes to a substantive first answer
CALENDAR = "cal"  # calendar minutes to the first answer (either kind)
AFTER_HOLDING = "after"  # business minutes from the first message to the real answer after a holding reply
OFFICER = "officer"  # business minutes to the first answer, per officer (account_key 0)

# Outcome codes: kind × within target.
SUBSTANTIVE_LATE, SUBSTANTIVE_WITHIN, HOLDING_LATE, HOLDING_WITHIN, CLOSED_WITHOUT_RESPONSE = range(5)

# (up to, width) in minutes: the bucket boundaries.
BUCKET_STEPS = ((60, 1), (240, 5), (480, 15), (1440, 30), (10080, 60), (43200, 1440))
LAST_BUCKET = 43200


def bucket_of(seconds: int | None) -> int:
    """The bucket (its lower bound, in minutes) of a duration in seconds."""
    minutes = max(0, int(seconds or 0)) // 60
    for limit, width in BUCKET_STEPS:
        if minutes < limit:
            return minutes // width * width
    return LAST_BUCKET


def bucket_sql(column: str) -> str:
    """``bucket_of`` in SQL, for the rebuild (integer division in PostgreSQL)."""
    m = f"(GREATEST(COALESCE({column}, 0), 0) / 60)"
    cases = " ".join(f"WHEN {m} < {limit} THEN {m} / {width} * {width}" for limit, width in BUCKET_STEPS)
    return f"(CASE {cases} ELSE {LAST_BUCKET} END)"


def outcome_code(kind: str, within: bool) -> int:
    if kind == "closed_without_response":
        return CLOSED_WITHOUT_RESPONSE
    if kind == "holding":
        return HOLDING_WITHIN if within else HOLDING_LATE
    return SUBSTANTIVE_WITHIN if within else SUBSTANTIVE_LATE


def fact_rows(fact) -> list[tuple]:
    """What a first-response fact (``SlaResponseFact``) adds: (day, measure, team, account,
    officer, bucket, n)."""
    team, account = fact.team_id or 0, fact.account_id
    rows = [(fact.day, OUTCOME, team, account, 0, outcome_code(fact.kind, fact.within_target), 1)]
    if fact.kind in ("holding", "substantive"):
        business = bucket_of(fact.business_seconds)
        rows += [
            (fact.day, BUSINESS_HOLDING if fact.kind == "holding" else BUSINESS_SUBSTANTIVE, team, account, 0,
             business, 1),
            (fact.day, CALENDAR, team, account, 0, bucket_of(fact.calendar_seconds), 1),
        ]
        if fact.officer_id:
            rows.append((fact.day, OFFICER, team, 0, fact.officer_id, business, 1))
    return rows


def after_holding_row(fact) -> tuple:
    """What the real answer after a holding reply adds (the fact's ``substantive_*`` set)."""
    return (fact.day, AFTER_HOLDING, fact.team_id or 0, fact.account_id, 0,
            bucket_of(fact.substantive_business_seconds), 1)


def rollups_add(rows: Iterable[tuple]) -> None:
    """Add (day, measure, team, account, officer, bucket, n) to every window containing the
    day: one statement (rows merged and sorted first, so two writers lock in one order)."""
    merged: dict[tuple, int] = {}
    for day, measure, team, account, officer, bucket, n in rows:
        for days in WINDOWS:
            for offset in range(days):
                key = (day + timedelta(days=offset), days, measure, team, account, officer, bucket)
                merged[key] = merged.get(key, 0) + n
    if not merged:
        return
    table = SlaRollup._meta.db_table
    columns = "end_day, days, measure, team_key, account_key, officer_key, bucket, n"
    with connection.cursor() as cursor:
        items = sorted(merged.items())
        for start in range(0, len(items), 2000):
            chunk = items[start:start + 2000]
            params: list = []
            for key, n in chunk:
                params += [*key, n]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join(['(%s, %s, %s, %s, %s, %s, %s, %s)'] * len(chunk))} "  # noqa: S608
                "ON CONFLICT (end_day, days, measure, team_key, account_key, officer_key, bucket) "
                f"DO UPDATE SET n = {table}.n + excluded.n",
                params,
            )


def windows_rebuild(since: date, until: date) -> int:
    """Recompute the windows ending from ``since`` to ``until`` from the facts (PostgreSQL):
    those rows are deleted and written again in one transaction. Returns the rows written."""
    from routing.models import SlaResponseFact

    if connection.vendor != "postgresql":
        raise NotImplementedError("the rollups are rebuilt on PostgreSQL")
    table, facts = SlaRollup._meta.db_table, SlaResponseFact._meta.db_table
    answered = "f.kind IN ('holding', 'substantive')"
    # (measure, team, account, officer, bucket, condition) per measure.
    parts = [
        (f"'{OUTCOME}'", "COALESCE(f.team_id, 0)", "f.account_id", "0",
         "CASE WHEN f.kind = 'closed_without_response' THEN 4 WHEN f.kind = 'holding' THEN "
         "(CASE WHEN f.within_target THEN 3 ELSE 2 END) ELSE (CASE WHEN f.within_target THEN 1 ELSE 0 END) END",
         "TRUE"),
        (f"CASE WHEN f.kind = 'holding' THEN '{BUSINESS_HOLDING}' ELSE '{BUSINESS_SUBSTANTIVE}' END",
         "COALESCE(f.team_id, 0)", "f.account_id", "0", bucket_sql("f.business_seconds"), answered),
        (f"'{CALENDAR}'", "COALESCE(f.team_id, 0)", "f.account_id", "0", bucket_sql("f.calendar_seconds"), answered),
        (f"'{OFFICER}'", "COALESCE(f.team_id, 0)", "0", "f.officer_id", bucket_sql("f.business_seconds"),
         f"{answered} AND f.officer_id IS NOT NULL"),
        (f"'{AFTER_HOLDING}'", "COALESCE(f.team_id, 0)", "f.account_id", "0",
         bucket_sql("f.substantive_business_seconds"), "f.kind = 'holding' AND f.substantive_at IS NOT NULL"),
    ]
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE end_day BETWEEN %s AND %s", [since, until])  # noqa: S608
        for measure, team, account, officer, bucket, condition in parts:
            cursor.execute(
                f"INSERT INTO {table} (end_day, days, measure, team_key, account_key, officer_key, bucket, n) "  # noqa: S608
                f"SELECT e.end_day, w.days, {measure}, {team}, {account}, {officer}, {bucket}, COUNT(*) "
                f"FROM {facts} f CROSS JOIN (VALUES {', '.join(f'({d})' for d in WINDOWS)}) AS w(days) "
                "CROSS JOIN LATERAL (SELECT g::date AS end_day FROM generate_series("
                "GREATEST(f.day, %s::date), LEAST(f.day + w.days - 1, %s::date), interval '1 day') g) e "
                f"WHERE f.day BETWEEN %s::date - 29 AND %s::date AND {condition} "
                "GROUP BY 1, 2, 3, 4, 5, 6, 7",
                [since, until, since, until],
            )
            written += cursor.rowcount
    return written


# --- reading -----------------------------------------------------------------------------------


def histogram_percentile(histogram: dict[int, int], p: float) -> float | None:
    """PostgreSQL's ``percentile_cont(p)`` (linear interpolation) over the values of a
    histogram, each bucket counting as its lower bound."""
    total = sum(histogram.values())
    if not total:
        return None
    position = p * (total - 1)
    lower_rank, fraction = int(position), position - int(position)
    lower = upper = None
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if lower is None and seen > lower_rank:
            lower = value
        if seen > lower_rank + (1 if fraction else 0):
            upper = value
            break
    return lower + (upper - lower) * fraction



def windows_prune(today: date, *, keep_days: int = 2) -> int:
    """Delete the windows that ended more than ``keep_days`` before ``today``: the dashboard
    reads only the windows ending today (in the calendar's zone, hence the margin), and each
    day leaves some thousands of rows behind. Facts and the ledger keep everything, so
    ``manage.py sla_rebuild_rollups`` can bring any period back. Returns the rows deleted."""
    deleted, _ = SlaRollup.objects.filter(end_day__lt=today - timedelta(days=keep_days)).delete()
    return deleted
