"""Throughput, lead time, quality and utilisation (from work snapshots), and the
two live questions: who has nothing to do, and which work nobody may do."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Sum

from qianbiao.programme.models import Facility
from qianbiao.projects.eligibility import eligible_annotators
from qianbiao.projects.models import (
    Assignment,
    AssignmentState,
    DatasetProject,
    Item,
    ItemState,
    ProjectStatus,
)
from qianbiao.workforce.models import Annotator, AnnotatorStatus

from ..models import HeadcountSnapshot, SnapshotScope, WorkSnapshot

DEFAULT_WORK_DAYS = 30


@dataclass(frozen=True)
class WorkWindow:
    first_day: dt.date
    last_day: dt.date

    @property
    def days(self) -> list[dt.date]:
        return [
            self.first_day + dt.timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)
        ]


def work_window(*, today: dt.date, days: int = DEFAULT_WORK_DAYS) -> WorkWindow:
    return WorkWindow(first_day=today - dt.timedelta(days=days - 1), last_day=today)


def _in(window: WorkWindow):
    return WorkSnapshot.objects.filter(day__gte=window.first_day, day__lte=window.last_day)


def project_names(project_ids) -> dict[int, str]:
    return dict(DatasetProject.objects.filter(pk__in=set(project_ids)).values_list("pk", "name"))


def items_per_day_by_project(window: WorkWindow) -> dict[int, dict[dt.date, int]]:
    """project id -> day -> items annotated (counted annotations that came back)."""
    out: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for project_id, day, n in (
        _in(window).filter(facility__isnull=True).values_list("project_id", "day", "annotations")
    ):
        out[project_id][day] = n
    return dict(out)


def items_per_day_by_facility(window: WorkWindow) -> dict[int, dict[dt.date, int]]:
    """facility id -> day -> items annotated by its annotators, all projects."""
    out: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for facility_id, day, n in (
        _in(window)
        .filter(facility__isnull=False)
        .values("facility_id", "day")
        .order_by()
        .annotate(n=Sum("annotations"))
        .values_list("facility_id", "day", "n")
    ):
        out[facility_id][day] = n
    return dict(out)


def lead_time_by_project(window: WorkWindow) -> dict[int, dict[dt.date, float]]:
    """project id -> day -> median lead time in seconds."""
    out: dict[int, dict[dt.date, float]] = defaultdict(dict)
    for project_id, day, median in (
        _in(window)
        .filter(facility__isnull=True, lead_time_median_s__isnull=False)
        .values_list("project_id", "day", "lead_time_median_s")
    ):
        out[project_id][day] = median
    return dict(out)


@dataclass(frozen=True)
class QualityFigure:
    results: int
    agreement: float | None  # mean agreement of the results decided, 0..1
    gold_checked: int
    gold_correct: int

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_checked if self.gold_checked else None


def _quality(rows) -> QualityFigure:
    results = sum(r[0] for r in rows)
    weighted = sum(r[0] * r[1] for r in rows if r[1] is not None)
    weight = sum(r[0] for r in rows if r[1] is not None)
    return QualityFigure(
        results=results,
        agreement=weighted / weight if weight else None,
        gold_checked=sum(r[2] for r in rows),
        gold_correct=sum(r[3] for r in rows),
    )


def quality_by_day(window: WorkWindow) -> dict[dt.date, QualityFigure]:
    """Province-wide per day: agreement weighted by results, gold accuracy pooled."""
    rows: dict[dt.date, list[tuple]] = defaultdict(list)
    for day, *values in (
        _in(window)
        .filter(facility__isnull=True)
        .values_list("day", "results", "agreement_mean", "gold_checked", "gold_correct")
    ):
        rows[day].append(tuple(values))
    return {day: _quality(values) for day, values in rows.items()}


def quality_by_project(window: WorkWindow) -> dict[int, QualityFigure]:
    rows: dict[int, list[tuple]] = defaultdict(list)
    for project_id, *values in (
        _in(window)
        .filter(facility__isnull=True)
        .values_list("project_id", "results", "agreement_mean", "gold_checked", "gold_correct")
    ):
        rows[project_id].append(tuple(values))
    return {project_id: _quality(values) for project_id, values in rows.items()}


@dataclass(frozen=True)
class Utilisation:
    code: str
    name: str
    grade: str
    seats: int
    headcount: int

    @property
    def percentage(self) -> float | None:
        return round(self.headcount * 100 / self.seats, 1) if self.seats else None


def seat_utilisation(*, day: dt.date) -> list[Utilisation]:
    """Headcount (from the day's snapshot) over seats, per facility, fullest first."""
    headcounts = dict(
        HeadcountSnapshot.objects.filter(scope=SnapshotScope.FACILITY, day=day).values_list(
            "code", "headcount"
        )
    )
    rows = [
        Utilisation(code, name, grade, seats, headcounts.get(code, 0))
        for code, name, grade, seats in Facility.objects.order_by("code").values_list(
            "code", "name", "grade", "seats"
        )
    ]
    return sorted(rows, key=lambda u: (-(u.percentage or 0), u.code))


@dataclass(frozen=True)
class IdleByFacility:
    code: str
    name: str
    active: int
    idle: int


def idle_annotators_by_facility() -> list[IdleByFacility]:
    """Active annotators holding no open assignment right now, per facility.
    One anti-join on the (annotator, state) index: ~20,000 probes, not a scan
    of millions of assignments."""
    open_work = Assignment.objects.filter(annotator=OuterRef("pk"), state=AssignmentState.OPEN)
    rows = (
        Annotator.objects.filter(status=AnnotatorStatus.ACTIVE)
        .annotate(busy=Exists(open_work))
        .values("facility__code", "facility__name", "busy")
        .order_by()
        .annotate(n=Count("pk"))
    )
    per: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counts = per[(row["facility__code"], row["facility__name"])]
        counts[0] += row["n"]
        if not row["busy"]:
            counts[1] += row["n"]
    result = [IdleByFacility(code, name, active, idle) for (code, name), (active, idle) in per.items()]
    return sorted(result, key=lambda r: (-r.idle, r.code))


@dataclass(frozen=True)
class StarvedProject:
    project_id: int
    name: str
    client: str
    pending_items: int
    requirement: str


def projects_without_annotators() -> list[StarvedProject]:
    """Active projects with items waiting for annotators but nobody eligible
    (skill, language, facility grade, not paused) to give them to."""
    pending = Item.objects.filter(project=OuterRef("pk"), state=ItemState.PENDING, is_gold=False)
    starved = []
    for project in (
        DatasetProject.objects.filter(status=ProjectStatus.ACTIVE)
        .filter(Exists(pending))
        .select_related("client", "required_language")
        .order_by("-priority", "pk")
    ):
        if eligible_annotators(project=project).exists():
            continue
        need = [project.get_task_type_display(), f"≥{project.min_grade}"]
        if project.required_language_id:
            need.append(str(project.required_language))
        starved.append(
            StarvedProject(
                project_id=project.pk,
                name=project.name,
                client=project.client.name,
                pending_items=Item.objects.filter(
                    project=project, state=ItemState.PENDING, is_gold=False
                ).count(),
                requirement=" · ".join(str(n) for n in need),
            )
        )
    return starved


def items_per_facility_by_project(window: WorkWindow, *, facility_id: int) -> dict[int, dict[dt.date, int]]:
    """project id -> day -> items annotated by one facility's annotators."""
    out: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for project_id, day, n in (
        _in(window).filter(facility_id=facility_id).values_list("project_id", "day", "annotations")
    ):
        out[project_id][day] = n
    return dict(out)
