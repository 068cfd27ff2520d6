"""Reads for quality control: exam gates for the distributor, what is ready to
decide, annotators' quality, craftsman candidates, the review queue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet, Sum

from qianbiao.labelling.models import Annotation
from qianbiao.projects.models import (
    LIVE_ASSIGNMENT_STATES,
    AnnotatorStanding,
    Assignment,
    DatasetProject,
    Item,
    ItemState,
)
from qianbiao.workforce.models import Annotator, AnnotatorStatus

from .intervals import Interval, wilson_interval
from .models import AnnotatorQuality, EntryExam, ExamStatus, QualityPolicy, Review


def policy_get(*, project: DatasetProject) -> QualityPolicy:
    """The project's policy; an unsaved one with the defaults if none was set."""
    try:
        return project.quality_policy
    except QualityPolicy.DoesNotExist:
        return QualityPolicy(project=project)


def counted_annotations(**filters) -> QuerySet[Annotation]:
    """Annotations that count (``Annotation.counts`` in SQL), by a known annotator."""
    return Annotation.objects.filter(
        flagged=False, deleted_at__isnull=True, was_cancelled=False, annotator__isnull=False, **filters
    )


def exam_size(*, project: DatasetProject, policy: QualityPolicy | None = None) -> int:
    """Gold items in the entry exam: the policy's number, or all the gold there is."""
    policy = policy or policy_get(project=project)
    if not policy.entry_exam_items:
        return 0
    return min(policy.entry_exam_items, Item.objects.filter(project=project, is_gold=True).count())


def entry_exam_gates(*, project: DatasetProject, annotator_ids: Sequence[int]) -> dict[int, int]:
    """For the distributor: annotators still sitting the project's entry exam, and
    how many more exam gold items each should be given now.

    A newcomer sits the exam until it is decided: they have no passed (or waived)
    exam and have never been given an ordinary item here (annotators who worked
    in the project before it required an exam are not newcomers). Exam gold is
    what they hold or handed in; gold that expired unanswered is replaced."""
    size = exam_size(project=project)
    if not size or not annotator_ids:
        return {}
    ids = list(annotator_ids)
    settled = set(
        EntryExam.objects.filter(
            project=project, annotator_id__in=ids, status__in=[ExamStatus.PASSED, ExamStatus.WAIVED]
        ).values_list("annotator_id", flat=True)
    )
    veterans = set(
        Assignment.objects.filter(project=project, annotator_id__in=ids, is_gold=False)
        .values_list("annotator_id", flat=True)
        .distinct()
    )
    held = dict(
        Assignment.objects.filter(
            project=project, annotator_id__in=ids, is_gold=True, state__in=LIVE_ASSIGNMENT_STATES
        )
        .values("annotator_id")
        .annotate(n=Count("pk"))
        .values_list("annotator_id", "n")
    )
    return {a: max(0, size - held.get(a, 0)) for a in ids if a not in settled and a not in veterans}


def items_ready(*, project: DatasetProject, limit: int = 10_000) -> list[int]:
    """Ordinary items with all the counted annotations they need and no decision yet:
    what the periodic sweep hands to ``items_decide``."""
    counted = Q(
        annotations__flagged=False,
        annotations__deleted_at__isnull=True,
        annotations__was_cancelled=False,
        annotations__annotator__isnull=False,
    )
    return list(
        Item.objects.filter(project=project, is_gold=False, result__isnull=True)
        .exclude(state__in=[ItemState.REVIEW, ItemState.ACCEPTED])
        .annotate(n=Count("annotations__annotator", filter=counted, distinct=True))
        .filter(n__gte=project.overlap + F("extra_slots"))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


@dataclass(frozen=True)
class TaskTypeAccuracy:
    annotator_id: int
    task_type: str
    answered: int
    correct: int
    interval: Interval

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.answered if self.answered else None


def gold_accuracy_by_task_type(*, annotator_ids: Iterable[int] | None = None) -> list[TaskTypeAccuracy]:
    """Gold accuracy per annotator and task type across all projects, with a 95%
    Wilson interval (the per-project figures are on AnnotatorQuality)."""
    qs = AnnotatorQuality.objects.all()
    if annotator_ids is not None:
        qs = qs.filter(annotator_id__in=list(annotator_ids))
    rows = (
        qs.values("annotator_id", "task_type")
        .annotate(answered=Sum("gold_answered"), correct=Sum("gold_correct"))
        .order_by("annotator_id", "task_type")
    )
    return [
        TaskTypeAccuracy(
            r["annotator_id"],
            r["task_type"],
            r["answered"] or 0,
            r["correct"] or 0,
            wilson_interval(r["correct"] or 0, r["answered"] or 0),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class CraftsmanCandidate:
    annotator_id: int
    code: str
    name: str
    score: float  # volume-weighted quality score across projects
    annotations: int  # counted annotations
    gold_answered: int
    gold_correct: int
    gold_low: float  # 95% Wilson lower bound of gold accuracy across projects


def craftsman_candidates(
    *,
    min_score: float = 0.9,
    min_annotations: int = 2000,
    min_gold: int = 50,
    min_gold_low: float = 0.85,
    limit: int = 100,
) -> list[CraftsmanCandidate]:
    """Candidates for the 数据标注工匠 honour: active annotators with a high quality
    score over a large volume of work, whose gold accuracy is high even at the
    pessimistic end of its interval, and who are paused in no project. Best first."""
    volume = dict(
        counted_annotations()
        .values("annotator_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=min_annotations)
        .values_list("annotator_id", "n")
    )
    if not volume:
        return []
    paused = set(AnnotatorStanding.objects.filter(paused=True).values_list("annotator_id", flat=True))
    totals = _quality_totals(list(volume))
    people = {
        a.pk: a
        for a in Annotator.objects.filter(pk__in=list(totals), status=AnnotatorStatus.ACTIVE).only(
            "code", "name"
        )
    }
    out = []
    for annotator_id, (weighted, weight, answered, correct) in totals.items():
        if annotator_id in paused or annotator_id not in people:
            continue
        score = weighted / weight
        low = wilson_interval(int(correct), int(answered)).low
        if score >= min_score and answered >= min_gold and low >= min_gold_low:
            person = people[annotator_id]
            out.append(
                CraftsmanCandidate(
                    annotator_id,
                    person.code,
                    person.name,
                    score,
                    volume[annotator_id],
                    int(answered),
                    int(correct),
                    low,
                )  # fmt: skip
            )
    out.sort(key=lambda c: (-c.score, -c.annotations, c.annotator_id))
    return out[:limit]


def _quality_totals(annotator_ids: list[int]) -> dict[int, list[float]]:
    """Per annotator across projects: [score x weight, weight, gold answered,
    gold correct], each project's score weighted by the answers behind it."""
    rows = (
        AnnotatorQuality.objects.filter(annotator_id__in=annotator_ids, score__isnull=False)
        .values("annotator_id", "score", "gold_answered", "gold_correct", "consensus_answered")
        .order_by()
    )
    totals: dict[int, list[float]] = {}
    for r in rows:
        t = totals.setdefault(r["annotator_id"], [0.0, 0.0, 0, 0])
        weight = max(1, r["consensus_answered"] + r["gold_answered"])
        t[0] += r["score"] * weight
        t[1] += weight
        t[2] += r["gold_answered"]
        t[3] += r["gold_correct"]
    return totals


def review_queue(*, reviewer: Annotator, project: DatasetProject | None = None) -> QuerySet[Review]:
    """Open reviews a reviewer may take, oldest first; none for a non-reviewer.
    A reviewer never reviews an item they annotated themselves."""
    if not reviewer.is_reviewer or reviewer.status != AnnotatorStatus.ACTIVE:
        return Review.objects.none()
    qs = Review.objects.filter(decided_at__isnull=True)
    if project is not None:
        qs = qs.filter(project=project)
    own = counted_annotations(annotator=reviewer).values("item_id")
    return qs.exclude(item_id__in=own).order_by("created_at", "pk")
