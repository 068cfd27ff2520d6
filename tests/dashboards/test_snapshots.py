"""Snapshots: the set-based back-fill gives, for every day, the numbers counted
one spell at a time — and the same as the workforce's own headcount selector."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from qianbiao.dashboards.models import HeadcountSnapshot, SnapshotScope, WorkSnapshot
from qianbiao.dashboards.snapshots import (
    _daily_series,
    days_between,
    headcount_snapshots_take,
    snapshots_take,
    work_snapshots_take,
)
from qianbiao.labelling.models import Annotation
from qianbiao.programme.models import PROVINCE_CODE
from qianbiao.quality.models import GoldJudgement, Result
from qianbiao.workforce.headcount import headcount_by_scope
from qianbiao.workforce.models import Employment
from tests.dashboards.conftest import count_employed

pytestmark = pytest.mark.django_db
D = dt.timedelta


def snapshot(scope: str, code: str, day: dt.date) -> int:
    return HeadcountSnapshot.objects.get(scope=scope, code=code, day=day).headcount


def test_daily_series_counts_the_last_day_and_not_the_day_after():
    d = dt.date(2026, 3, 1)
    starts = [("a", d, 2), ("a", d + D(days=2), 1), ("b", d - D(days=10), 1)]
    ends = [("a", d + D(days=2), 1), ("b", d - D(days=1), 1)]  # b left the day before the range
    series = _daily_series(starts=starts, ends=ends, days=days_between(d, d + D(days=4)), keys=["c"])
    assert series["a"] == [2, 2, 3, 2, 2]  # the leaver still counts on their last day (d+2)
    assert series["b"] == [0, 0, 0, 0, 0]
    assert series["c"] == [0, 0, 0, 0, 0]


def test_backfill_matches_spells_counted_one_by_one(programme):
    today = programme.today
    first = today - D(days=120)
    headcount_snapshots_take(first_day=first, last_day=today)
    assert HeadcountSnapshot.objects.filter(scope=SnapshotScope.PROVINCE).count() == 121
    # Days around every start and end in the history, and both ends of the range.
    edges = {first, today}
    for spell in Employment.objects.all():
        for day in (spell.started_on, spell.ended_on):
            if day:
                edges |= {day - D(days=1), day, day + D(days=1)}
    for day in sorted(d for d in edges if first <= d <= today):
        assert snapshot("province", PROVINCE_CODE, day) == count_employed(day), day
        for code, facility in programme.facilities.items():
            assert snapshot("facility", code, day) == count_employed(day, facility=facility), (code, day)
        for region in programme.regions.values():
            assert snapshot("region", region.code, day) == count_employed(day, facility__region=region)
        assert snapshot("park", "gy-park", day) == count_employed(day, facility__park__code="gy-park")
        assert snapshot("grade", "L4", day) == count_employed(day, facility__grade="L4")
        assert snapshot("enterprise", programme.operator_small.credit_code, day) == count_employed(
            day, employer=programme.operator_small
        )
        assert snapshot("skill", "transcription", day) == count_employed(
            day, annotator__skills__task_type="transcription"
        )
        assert snapshot("language", "hms", day) == count_employed(
            day, annotator__languages__language_id="hms"
        )


def test_backfill_agrees_with_the_workforce_headcount_selector(programme):
    today = programme.today
    headcount_snapshots_take(first_day=today - D(days=60), last_day=today)
    for day in (today - D(days=60), today - D(days=30), today - D(days=10), today):
        for scope in ("province", "region", "park", "facility"):
            for row in headcount_by_scope(day=day, scope=scope):
                assert snapshot(scope, row.code, day) == row.headcount, (scope, row.code, day)


def test_backfill_is_idempotent_and_replaces_stale_rows(programme):
    today = programme.today
    headcount_snapshots_take(first_day=today - D(days=5), last_day=today)
    before = list(
        HeadcountSnapshot.objects.order_by("scope", "code", "day").values_list(
            "scope", "code", "day", "headcount"
        )
    )
    HeadcountSnapshot.objects.filter(scope="province", day=today).update(headcount=999_999)
    headcount_snapshots_take(first_day=today - D(days=5), last_day=today)
    after = list(
        HeadcountSnapshot.objects.order_by("scope", "code", "day").values_list(
            "scope", "code", "day", "headcount"
        )
    )
    assert after == before


def test_work_snapshots_count_annotations_per_day_project_and_facility(programme):
    today = programme.today
    work_snapshots_take(first_day=today - D(days=10), last_day=today)
    boxes = programme.projects["boxes"]
    for offset in range(5):
        day = today - D(days=offset)
        rows = [
            a
            for a in Annotation.objects.select_related("annotator")
            if a.project_id == boxes.pk and a.received_at.astimezone().date() == day
        ]
        total = WorkSnapshot.objects.get(day=day, project=boxes, facility__isnull=True)
        assert total.annotations == len(rows)
        assert total.annotators == len({a.annotator_id for a in rows})
        times = sorted(a.lead_time_s for a in rows)
        middle = len(times) // 2
        median = times[middle] if len(times) % 2 else (times[middle - 1] + times[middle]) / 2
        assert total.lead_time_median_s == pytest.approx(median)
        per_facility = WorkSnapshot.objects.filter(day=day, project=boxes, facility__isnull=False)
        for snap in per_facility:
            assert snap.annotations == sum(1 for a in rows if a.annotator.facility_id == snap.facility_id)
        assert sum(s.annotations for s in per_facility) == len(rows)


def test_work_snapshots_gold_and_agreement(programme):
    today = programme.today
    work_snapshots_take(first_day=today - D(days=10), last_day=today)
    texts = programme.projects["texts"]
    judged = list(GoldJudgement.objects.filter(project=texts))
    rows = WorkSnapshot.objects.filter(project=texts, facility__isnull=True)
    assert sum(r.gold_checked for r in rows) == len(judged) > 0
    assert sum(r.gold_correct for r in rows) == sum(j.correct for j in judged)
    assert 0 < sum(j.correct for j in judged) < len(judged)  # right and wrong answers both
    # An answer quality control has not judged yet is not counted either way.
    assert Annotation.objects.filter(project=texts, item__is_gold=True).count() > len(judged)
    facility_rows = WorkSnapshot.objects.filter(project=texts, facility__isnull=False)
    assert sum(r.gold_checked for r in facility_rows) == len(judged)
    for row in rows:
        results = [
            r for r in Result.objects.filter(project=texts) if r.decided_at.astimezone().date() == row.day
        ]
        assert row.results == len(results)
        assert row.agreement_mean == pytest.approx(sum(r.agreement for r in results) / len(results))


def test_scheduled_run_recomputes_the_last_days(programme):
    outcome = snapshots_take(today=programme.today, lookback_days=3)
    assert outcome.headcount_rows == HeadcountSnapshot.objects.count()
    assert sorted(set(HeadcountSnapshot.objects.values_list("day", flat=True))) == [
        programme.today - D(days=n) for n in (3, 2, 1, 0)
    ]
    assert outcome.work_rows == WorkSnapshot.objects.count() > 0
    # Work is heavier: only yesterday (late webhooks, late gold judgements) and today.
    assert set(WorkSnapshot.objects.values_list("day", flat=True)) == {
        programme.today - D(days=1),
        programme.today,
    }


def test_celery_task_is_registered_and_runs(programme, settings):
    from workers.app import app
    from workers.dashboards import take_daily_snapshots
    from workers.enqueue import TAKE_DAILY_SNAPSHOTS

    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    assert TAKE_DAILY_SNAPSHOTS in app.tasks
    assert any(entry["task"] == TAKE_DAILY_SNAPSHOTS for entry in app.conf.beat_schedule.values())
    outcome = take_daily_snapshots.apply(kwargs={"lookback_days": 1}).get()
    assert outcome["headcount_rows"] == HeadcountSnapshot.objects.count() > 0
    assert snapshot("province", PROVINCE_CODE, programme.today) == count_employed(programme.today)


def test_backfill_command(programme):
    out = StringIO()
    first = programme.today - D(days=9)
    call_command(
        "backfill_snapshots", "--from", first.isoformat(), "--to", programme.today.isoformat(), stdout=out
    )
    assert "headcount:" in out.getvalue() and "work:" in out.getvalue()
    assert HeadcountSnapshot.objects.filter(scope="province").count() == 10
    assert snapshot("province", PROVINCE_CODE, first) == count_employed(first)
    with pytest.raises(CommandError):
        call_command("backfill_snapshots", "--from", "2026-02-01", "--to", "2026-01-01")
    with pytest.raises(CommandError):
        call_command("backfill_snapshots", "--from", "yesterday")
