"""Services that take the dashboards' daily snapshots (writes).

Headcount is computed from the employment history for a whole range of days at
once, set-based: the database groups spells by (unit, start day) and by (unit,
end day) — a few thousand rows however many days are asked for — and a prefix
sum over those changes gives every unit's headcount on every day. Counting the
spells that cover each day separately would cost one scan per day.

The definition is the one of ``workforce.headcount`` (a spell covers ``day`` if
``started_on <= day`` and it is open or ``ended_on >= day``); the tests hold the
two to the same numbers.

Facilities' region, park and grade, and annotators' skills and languages, have no
dated history: a back-filled day counts people by what they are *now*. Prefecture,
park and grade totals are sums of facility rows, so they always add up.

Work snapshots count the annotations that came back each day (``received_at``, in
the platform's time zone) per project and per the annotator's current facility;
gold accuracy is the quality app's judgement of each answer on a gold item.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Aggregate, Avg, Count, FloatField, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from qianbiao.labelling.models import Annotation
from qianbiao.programme.models import PROVINCE_CODE, Facility, Grade, Park, Region
from qianbiao.projects.models import DatasetProject
from qianbiao.quality.models import Result
from qianbiao.workforce.models import Employment, Language, TaskType

from .models import HeadcountSnapshot, SnapshotScope, WorkSnapshot

ONE_DAY = dt.timedelta(days=1)
# How far back each scheduled run recomputes: history recorded late (a leaver
# entered a week after the fact) corrects the recent trend without a backfill.
DEFAULT_LOOKBACK_DAYS = 7
# Work figures of yesterday still move (late webhooks, gold judged after the
# item's overlap is complete); older days are for backfill_snapshots.
DEFAULT_WORK_LOOKBACK_DAYS = 1


def days_between(first_day: dt.date, last_day: dt.date) -> list[dt.date]:
    return [first_day + dt.timedelta(days=n) for n in range((last_day - first_day).days + 1)]


def _daily_series(
    *,
    starts: Iterable[tuple[Hashable, dt.date, int]],
    ends: Iterable[tuple[Hashable, dt.date, int]],
    days: list[dt.date],
    keys: Iterable[Hashable] = (),
) -> dict[Hashable, list[int]]:
    """Headcount per key on each of ``days`` from grouped spell starts and ends
    (``ends`` carry the last day worked, so a leaver counts on that day)."""
    first_day = days[0]
    base: Counter[Hashable] = Counter()
    changes: dict[Hashable, Counter[dt.date]] = defaultdict(Counter)
    for key, started_on, n in starts:
        if started_on <= first_day:
            base[key] += n
        else:
            changes[key][started_on] += n
    for key, ended_on, n in ends:
        gone_on = ended_on + ONE_DAY
        if gone_on <= first_day:
            base[key] -= n
        else:
            changes[key][gone_on] -= n
    series: dict[Hashable, list[int]] = {}
    for key in {*keys, *base, *changes}:
        running, key_changes, values = base[key], changes.get(key, Counter()), []
        for index, day in enumerate(days):
            if index:
                running += key_changes.get(day, 0)
            values.append(running)
        series[key] = values
    return series


def _grouped_spells(
    field: str, *, last_day: dt.date
) -> tuple[list[tuple[Hashable, dt.date, int]], list[tuple[Hashable, dt.date, int]]]:
    """Spells started and ended up to ``last_day``, counted per (``field``, day).
    Through a multi-valued relation (skills, languages) a spell counts once per
    value; people with no value at all come back under ``None`` and are dropped."""
    spells = Employment.objects.all()
    starts = (
        spells.filter(started_on__lte=last_day)
        .values_list(field, "started_on")
        .annotate(n=Count("pk"))
        .order_by()
    )
    ends = (
        spells.filter(ended_on__lt=last_day).values_list(field, "ended_on").annotate(n=Count("pk")).order_by()
    )
    return [row for row in starts if row[0] is not None], [row for row in ends if row[0] is not None]


@dataclass(frozen=True)
class _FacilityUnits:
    code: str
    region_code: str
    park_code: str | None
    grade: str


def headcount_series(*, first_day: dt.date, last_day: dt.date) -> dict[tuple[str, str], list[int]]:
    """(scope, code) -> headcount on each day from ``first_day`` to ``last_day``."""
    if last_day < first_day:
        raise ValueError("last_day is before first_day")
    days = days_between(first_day, last_day)
    facilities = {
        f.pk: _FacilityUnits(f.code, f.region.code, f.park.code if f.park else None, f.grade)
        for f in Facility.objects.select_related("region", "park").only(
            "code", "grade", "region__code", "park__code"
        )
    }
    out: dict[tuple[str, str], list[int]] = {}

    def add(scope: str, code: str, values: list[int]) -> None:
        current = out.get((scope, code))
        if current is None:
            out[(scope, code)] = values[:]
        else:
            out[(scope, code)] = [a + b for a, b in zip(current, values, strict=True)]

    zeros = [0] * len(days)
    for code in Region.objects.values_list("code", flat=True):
        add(SnapshotScope.REGION, code, zeros)
    for code in Park.objects.values_list("code", flat=True):
        add(SnapshotScope.PARK, code, zeros)
    for grade in Grade.values:
        add(SnapshotScope.GRADE, grade, zeros)
    add(SnapshotScope.PROVINCE, PROVINCE_CODE, zeros)

    starts, ends = _grouped_spells("facility_id", last_day=last_day)
    by_facility = _daily_series(starts=starts, ends=ends, days=days, keys=facilities)
    for facility_id, values in by_facility.items():
        unit = facilities[facility_id]  # type: ignore[index]
        add(SnapshotScope.FACILITY, unit.code, values)
        add(SnapshotScope.REGION, unit.region_code, values)
        if unit.park_code:
            add(SnapshotScope.PARK, unit.park_code, values)
        add(SnapshotScope.GRADE, unit.grade, values)
        add(SnapshotScope.PROVINCE, PROVINCE_CODE, values)

    breakdowns = (
        (SnapshotScope.ENTERPRISE, "employer__credit_code", ()),
        (SnapshotScope.SKILL, "annotator__skills__task_type", TaskType.values),
        (
            SnapshotScope.LANGUAGE,
            "annotator__languages__language_id",
            Language.objects.values_list("code", flat=True),
        ),
    )
    for scope, field, keys in breakdowns:
        starts, ends = _grouped_spells(field, last_day=last_day)
        for code, values in _daily_series(starts=starts, ends=ends, days=days, keys=keys).items():
            add(scope, str(code), values)
    return out


@transaction.atomic
def headcount_snapshots_take(*, first_day: dt.date, last_day: dt.date, batch_size: int = 5000) -> int:
    """Replace the headcount snapshots of ``first_day``..``last_day``; returns rows written.

    Idempotent: running it twice leaves the same rows. Replacing (not updating)
    also drops rows of units that no longer exist."""
    series = headcount_series(first_day=first_day, last_day=last_day)
    days = days_between(first_day, last_day)
    HeadcountSnapshot.objects.filter(day__gte=first_day, day__lte=last_day).delete()

    def rows() -> Iterator[HeadcountSnapshot]:
        for (scope, code), values in series.items():
            for day, headcount in zip(days, values, strict=True):
                yield HeadcountSnapshot(day=day, scope=scope, code=code, headcount=headcount)

    written = 0
    batch: list[HeadcountSnapshot] = []
    for row in rows():
        batch.append(row)
        if len(batch) >= batch_size:
            HeadcountSnapshot.objects.bulk_create(batch)
            written += len(batch)
            batch = []
    if batch:
        HeadcountSnapshot.objects.bulk_create(batch)
        written += len(batch)
    return written


class _Median(Aggregate):
    """PostgreSQL's exact median (the continuous percentile at 0.5)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _counted_annotations(first_day: dt.date, last_day: dt.date) -> QuerySet[Annotation]:
    # What Annotation.counts says, as a filter: by the assignee, not deleted, not skipped.
    # Naming every project lets PostgreSQL range-scan the (project, received_at)
    # index once per project instead of reading every annotation ever received.
    return Annotation.objects.filter(
        project_id__in=list(DatasetProject.objects.values_list("pk", flat=True)),
        received_at__gte=_local_midnight(first_day),
        received_at__lt=_local_midnight(last_day + ONE_DAY),
        flagged=False,
        deleted_at__isnull=True,
        was_cancelled=False,
        annotator__isnull=False,
    ).annotate(day=TruncDate("received_at"))


def _annotation_figures(
    annotations: QuerySet[Annotation], group: tuple[str, ...]
) -> dict[tuple, tuple[int, int, float | None]]:
    """(day, *group) -> (annotations, distinct annotators, median lead time)."""
    grouped = annotations.values("day", *group).order_by()
    figures: dict[tuple, tuple[int, int, float | None]] = {}
    for row in grouped.annotate(
        n=Count("pk"), people=Count("annotator_id", distinct=True), median=_Median("lead_time_s")
    ):
        figures[(row["day"], *(row[g] for g in group))] = (row["n"], row["people"], row["median"])
    return figures


@transaction.atomic
def work_snapshots_take(*, first_day: dt.date, last_day: dt.date) -> int:
    """Replace the work snapshots of ``first_day``..``last_day``; returns rows written."""
    annotations = _counted_annotations(first_day, last_day)
    by_facility = _annotation_figures(annotations, ("project_id", "annotator__facility_id"))
    by_project = _annotation_figures(annotations, ("project_id",))
    gold, gold_right = _gold_figures(annotations)
    results = _result_figures(first_day, last_day)

    rows: list[WorkSnapshot] = []
    for (day, project_id, facility_id), (n, people, median) in by_facility.items():
        key = (day, project_id, facility_id)
        rows.append(
            WorkSnapshot(
                day=day,
                project_id=project_id,
                facility_id=facility_id,
                annotations=n,
                annotators=people,
                lead_time_median_s=median,
                gold_checked=gold[key],
                gold_correct=gold_right[key],
            )
        )
    for key in {*by_project, *results}:
        day, project_id = key
        n, people, median = by_project.get(key, (0, 0, None))
        decided, agreement = results.get(key, (0, None))
        rows.append(
            WorkSnapshot(
                day=day,
                project_id=project_id,
                facility_id=None,
                annotations=n,
                annotators=people,
                lead_time_median_s=median,
                gold_checked=gold[key],
                gold_correct=gold_right[key],
                results=decided,
                agreement_mean=agreement,
            )
        )
    WorkSnapshot.objects.filter(day__gte=first_day, day__lte=last_day).delete()
    WorkSnapshot.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def _gold_figures(annotations) -> tuple[Counter[tuple], Counter[tuple]]:
    """Gold answers checked and right, keyed by (day, project, facility) and (day, project)."""
    # Gold: the quality app's marks (GoldJudgement), per annotation. An answer not
    # yet judged is not counted; the next run (which redoes recent days) picks it up.
    gold: Counter[tuple] = Counter()
    gold_right: Counter[tuple] = Counter()
    for row in (
        annotations.filter(gold_judgement__isnull=False)
        .values("day", "project_id", "annotator__facility_id")
        .order_by()
        .annotate(n=Count("pk"), right=Count("pk", filter=Q(gold_judgement__correct=True)))
    ):
        day, project_id = row["day"], row["project_id"]
        for key in ((day, project_id, row["annotator__facility_id"]), (day, project_id)):
            gold[key] += row["n"]
            gold_right[key] += row["right"]
    return gold, gold_right


def _result_figures(first_day: dt.date, last_day: dt.date) -> dict[tuple, tuple]:
    """(results decided, mean agreement) keyed by (day, project)."""
    return {
        (row["day"], row["project_id"]): (row["n"], row["agreement"])
        for row in Result.objects.filter(
            # updated_at >= decided_at always, and updated_at is indexed: the
            # first condition is what lets the database skip older results.
            updated_at__gte=_local_midnight(first_day),
            decided_at__gte=_local_midnight(first_day),
            decided_at__lt=_local_midnight(last_day + ONE_DAY),
        )
        .annotate(day=TruncDate("decided_at"))
        .values("day", "project_id")
        .order_by()
        .annotate(n=Count("pk"), agreement=Avg("agreement"))
    }


@dataclass(frozen=True)
class SnapshotOutcome:
    first_day: str
    last_day: str
    headcount_rows: int
    work_rows: int


def snapshots_take(
    *,
    today: dt.date | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    work_lookback_days: int = DEFAULT_WORK_LOOKBACK_DAYS,
) -> SnapshotOutcome:
    """The scheduled run: headcount of the last ``lookback_days`` days and today
    (cheap: grouped spells), work of the last ``work_lookback_days`` days and
    today (a day of annotations at full strength is ten million rows)."""
    today = today or timezone.localdate()
    first_day = today - dt.timedelta(days=lookback_days)
    return SnapshotOutcome(
        first_day=first_day.isoformat(),
        last_day=today.isoformat(),
        headcount_rows=headcount_snapshots_take(first_day=first_day, last_day=today),
        work_rows=work_snapshots_take(
            first_day=today - dt.timedelta(days=work_lookback_days), last_day=today
        ),
    )
