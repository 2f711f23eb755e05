"""The dashboard's window rollups: the buckets and their percentiles, and
``manage.py sla_rebuild_rollups`` recomputing facts and rollups from the ledger, idempotently."""

from __future__ import annotations

import random
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from routing.dashboard import dashboard_figures, dashboard_scope, percentile_cont
from routing.models import SlaResponseFact, SlaRollup
from routing.sla_rollups import bucket_of, histogram_percentile
from tests.test_dashboard import accounts, fixed_now, week, x_calendar  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def test_buckets_are_minutes_then_wider_steps():
    assert [bucket_of(s * 60) for s in (0, 1, 59, 60, 64, 239, 240, 254, 479, 480, 509, 1439)] == [
        0, 1, 59, 60, 60, 235, 240, 240, 465, 480, 480, 1410]
    assert bucket_of(3870 * 60) == 3840  # an hour wide below a week
    assert bucket_of(3 * 86400 + 59) == 4320
    assert bucket_of(8 * 86400 + 5000) == 8 * 1440  # a day wide below 30 days
    assert bucket_of(90 * 86400) == 43200  # 30 days or more: one bucket
    assert bucket_of(None) == 0 and bucket_of(59) == 0


def test_histogram_percentiles_equal_percentile_cont_over_the_bucketed_values():
    rng = random.Random(9)
    for n in (1, 2, 3, 10, 101):
        values = [bucket_of(rng.randint(0, 3 * 86400)) for _ in range(n)]
        histogram: dict[int, int] = {}
        for v in values:
            histogram[v] = histogram.get(v, 0) + 1
        for p in (0.5, 0.9):
            assert histogram_percentile(histogram, p) == pytest.approx(percentile_cont(values, p))
    assert histogram_percentile({}, 0.5) is None


def _rollups() -> set[tuple]:
    return set(SlaRollup.objects.exclude(n=0).values_list(
        "end_day", "days", "measure", "team_key", "account_key", "officer_key", "bucket", "n"))


def _facts() -> set[tuple]:
    return set(SlaResponseFact.objects.values_list(
        "conversation_id", "team_id", "account_id", "officer_id", "day", "started_at", "responded_at", "kind",
        "business_seconds", "calendar_seconds", "target_seconds", "within_target", "substantive_at",
        "substantive_business_seconds"))


def _figures(user):
    f = dashboard_figures(dashboard_scope(user, period="7d"))
    return (f.total, f.by_team, f.by_channel, f.distribution, f.officers, f.after_holding_answered,
            f.after_holding_median)


def test_rebuild_from_the_ledger_gives_back_what_the_live_path_wrote(week, carol):  # noqa: F811
    facts, rollups, figures = _facts(), _rollups(), _figures(carol)
    assert len(facts) == 7 and rollups
    # Lost (or never written, or written by an older version): both tables emptied.
    SlaRollup.objects.all().delete()
    SlaResponseFact.objects.all().delete()
    out = StringIO()
    call_command("sla_rebuild_rollups", "--since", "2026-10-01", "--until", "2026-10-31", stdout=out)
    assert "Rebuilt 7 facts" in out.getvalue()
    assert _facts() == facts
    assert _rollups() == rollups
    assert _figures(carol) == figures
    # Idempotent: again, and for everything (from the first clock to today).
    call_command("sla_rebuild_rollups", "--since", "2026-10-01", "--until", "2026-10-31", stdout=StringIO())
    call_command("sla_rebuild_rollups", stdout=StringIO())
    assert _facts() == facts and _rollups() == rollups


def test_rebuild_of_a_period_leaves_the_other_days_alone(week):  # noqa: F811
    before = {row for row in _rollups() if row[0].day < 16}
    # Only Monday the 19th: c1, c5 and c9 are recomputed, the windows from the 19th on rewritten.
    call_command("sla_rebuild_rollups", "--since", "2026-10-19", "--until", "2026-10-19", stdout=StringIO())
    assert {row for row in _rollups() if row[0].day < 16} == before
    assert SlaResponseFact.objects.count() == 7


def test_rebuild_refuses_a_backwards_period(db):
    with pytest.raises(CommandError, match="after"):
        call_command("sla_rebuild_rollups", "--since", "2026-10-20", "--until", "2026-10-19")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("sla_rebuild_rollups", "--since", "yesterday")


def test_the_nightly_prune_drops_only_windows_that_ended_days_ago(db):
    from datetime import date

    from routing.tasks import sla_rollups_prune

    today = date(2026, 10, 21)
    for end_day in (date(2026, 10, 17), date(2026, 10, 18), date(2026, 10, 19), today, date(2026, 11, 5)):
        SlaRollup.objects.create(end_day=end_day, days=7, measure="first", bucket=12, n=3)

    from routing.sla_rollups import windows_prune

    assert windows_prune(today) == 2
    assert sorted(SlaRollup.objects.values_list("end_day", flat=True)) == [
        date(2026, 10, 19), today, date(2026, 11, 5)]
    # The task runs on the local date and is safe to run twice.
    assert sla_rollups_prune.run()["deleted"] >= 0
    assert sla_rollups_prune.run()["deleted"] == 0
