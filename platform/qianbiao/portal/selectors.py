"""Reads for the annotator's "My work" page. Read-only, and always scoped to one
annotator: nothing here takes a project or assignment id without the annotator."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Min, Q

from qianbiao.projects.distribution import start_of_today
from qianbiao.projects.models import (
    AnnotatorStanding,
    Assignment,
    AssignmentState,
    DatasetProject,
    ProjectStatus,
)
from qianbiao.quality.models import AnnotatorQuality, EntryExam
from qianbiao.quality.selectors import entry_exam_gates, exam_size
from qianbiao.workforce.models import Annotator

# Projects an annotator can see: work may still come or be open there.
VISIBLE_PROJECT_STATUSES = (ProjectStatus.ACTIVE, ProjectStatus.PAUSED)
# Open assignments listed per project (the rest are counted): open_cap keeps it small anyway.
LISTED_ASSIGNMENTS = 50

EXAM_NONE = "none"  # the project has no entry exam
EXAM_PENDING = "pending"  # an exam, not decided yet


@dataclass
class ProjectWork:
    project: DatasetProject
    open_assignments: list[Assignment] = field(default_factory=list)
    open_count: int = 0
    next_expiry: dt.datetime | None = None
    today_count: int = 0
    exam_status: str = EXAM_NONE  # EXAM_NONE, EXAM_PENDING or an ExamStatus value
    exam_size: int = 0
    exam_answered: int = 0
    exam_correct: int = 0
    gold_answered: int = 0
    gold_correct: int = 0
    gold_low: float | None = None
    gold_high: float | None = None
    quality_score: float | None = None
    paused: bool = False
    paused_reason: str = ""
    paused_at: dt.datetime | None = None

    @property
    def daily_quota(self) -> int:
        return self.project.daily_quota

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answered if self.gold_answered else None

    @property
    def can_start(self) -> bool:
        return self.open_count > 0 and not self.paused and self.project.status == ProjectStatus.ACTIVE


def _project_ids(annotator: Annotator) -> set[int]:
    ids = set(
        Assignment.objects.filter(annotator=annotator, state=AssignmentState.OPEN)
        .values_list("project_id", flat=True)
        .distinct()
    )
    for model in (AnnotatorStanding, AnnotatorQuality, EntryExam):
        ids.update(model.objects.filter(annotator=annotator).values_list("project_id", flat=True))
    return ids


def _assignment_counts(annotator: Annotator, project_ids: set[int]) -> dict[int, dict]:
    # "Today" as the distributor counts it against the daily quota (projects.distribution).
    return {
        row["project_id"]: row
        for row in Assignment.objects.filter(annotator=annotator, project_id__in=project_ids)
        .exclude(state=AssignmentState.REVOKED)
        .values("project_id")
        .annotate(
            open=Count("pk", filter=Q(state=AssignmentState.OPEN)),
            today=Count("pk", filter=Q(assigned_at__gte=start_of_today())),
            next_expiry=Min("expires_at", filter=Q(state=AssignmentState.OPEN)),
        )
    }


def _open_assignments(annotator: Annotator, project_ids: set[int]) -> dict[int, list[Assignment]]:
    listed: dict[int, list[Assignment]] = {}
    rows = (
        Assignment.objects.filter(annotator=annotator, project_id__in=project_ids, state=AssignmentState.OPEN)
        .select_related("item")
        .only("pk", "project_id", "expires_at", "assigned_at", "is_gold", "item__external_id")
        .order_by("project_id", "expires_at", "pk")
    )
    for assignment in rows:
        bucket = listed.setdefault(assignment.project_id, [])
        if len(bucket) < LISTED_ASSIGNMENTS:
            bucket.append(assignment)
    return listed


def _fill_quality(work: ProjectWork, quality: AnnotatorQuality | None, standing) -> None:
    if quality is not None:
        work.gold_answered, work.gold_correct = quality.gold_answered, quality.gold_correct
        work.gold_low, work.gold_high = quality.gold_low, quality.gold_high
        work.quality_score = quality.score
    if standing is not None:
        if work.quality_score is None and standing.quality_score is not None:
            work.quality_score = float(standing.quality_score)
        work.paused, work.paused_reason, work.paused_at = (
            standing.paused,
            standing.paused_reason,
            standing.paused_at,
        )


def _fill_exam(work: ProjectWork, exam: EntryExam | None, annotator: Annotator) -> None:
    if exam is not None:
        work.exam_status, work.exam_answered, work.exam_correct = exam.status, exam.answered, exam.correct
        return
    # Undecided: sitting it only if quality control's own gate says so (someone who
    # worked here before the project required an exam does not sit it).
    work.exam_size = exam_size(project=work.project)
    sitting = work.exam_size and annotator.pk in entry_exam_gates(
        project=work.project, annotator_ids=[annotator.pk]
    )
    work.exam_status = EXAM_PENDING if sitting else EXAM_NONE


def annotator_work(*, annotator: Annotator) -> list[ProjectWork]:
    """The annotator's projects (open work, or any standing, quality or exam there),
    highest priority first, each with only this annotator's own figures."""
    ids = _project_ids(annotator)
    projects = list(
        DatasetProject.objects.filter(pk__in=ids, status__in=VISIBLE_PROJECT_STATUSES).select_related(
            "quality_policy"
        )
    )
    ids = {p.pk for p in projects}
    counts = _assignment_counts(annotator, ids)
    listed = _open_assignments(annotator, ids)
    quality = {
        q.project_id: q for q in AnnotatorQuality.objects.filter(annotator=annotator, project_id__in=ids)
    }
    standings = {
        s.project_id: s for s in AnnotatorStanding.objects.filter(annotator=annotator, project_id__in=ids)
    }
    exams = {e.project_id: e for e in EntryExam.objects.filter(annotator=annotator, project_id__in=ids)}
    out = []
    for project in projects:
        c = counts.get(project.pk, {})
        work = ProjectWork(
            project=project,
            open_assignments=listed.get(project.pk, []),
            open_count=c.get("open", 0),
            next_expiry=c.get("next_expiry"),
            today_count=c.get("today", 0),
        )
        _fill_quality(work, quality.get(project.pk), standings.get(project.pk))
        _fill_exam(work, exams.get(project.pk), annotator)
        out.append(work)
    return out


def annotator_project_work(*, annotator: Annotator, project_id: int) -> ProjectWork | None:
    """One project of the annotator's work; None if it is not theirs to see."""
    return next((w for w in annotator_work(annotator=annotator) if w.project.pk == project_id), None)
