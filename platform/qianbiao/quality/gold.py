"""Gold: marking every counted answer on a gold item against its gold answer,
and what follows from the marks — annotators' gold accuracy, entry exams,
accuracy pauses (standing.py), and the gold item's own Result."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum

from qianbiao.projects.models import AnnotatorStanding, Assignment, DatasetProject, Item

from . import labels as L
from .intervals import wilson_interval
from .judging import gold_mark
from .models import (
    AnnotatorQuality,
    EntryExam,
    ExamStatus,
    GoldJudgement,
    QualityPolicy,
    Result,
    ResultMethod,
)
from .outcomes import Decision, Outcome
from .selectors import counted_annotations, exam_size
from .standing import annotator_pause, quality_rows_lock, scores_refresh

# PositiveSmallIntegerField; a gold item may have thousands of answers.
_SMALLINT_MAX = 32_767


def gold_items_mark(project: DatasetProject, policy: QualityPolicy, items: Sequence[Item]) -> list[Decision]:
    """Mark every counted answer on these gold items not marked yet; then update
    the annotators' gold accuracy, exams and pauses, and the items' gold Results."""
    gold_values: dict[int, Any] = {}
    decisions = []
    for item in items:
        try:
            gold_values[item.pk] = L.gold_comparable(project.task_type, item.gold_answer)
        except (ValueError, KeyError, TypeError, L.UnsupportedTaskType) as exc:
            decisions.append(
                Decision(item.pk, Outcome.GOLD_MARKED, ResultMethod.GOLD, detail=f"unreadable: {exc}")
            )
    judgements = _judgements(project, policy, gold_values)
    marked: dict[int, int] = defaultdict(int)
    with transaction.atomic():
        # A judgement per annotation (one-to-one): a concurrent run's duplicates are dropped.
        GoldJudgement.objects.bulk_create(judgements, ignore_conflicts=True)
        for j in judgements:
            marked[j.item_id] += 1
        if judgements:
            _gold_refresh(project, policy, {j.annotator_id for j in judgements})
        _gold_results(project, [i for i in items if i.pk in gold_values], gold_values)
    for item_id in gold_values:
        decisions.append(
            Decision(item_id, Outcome.GOLD_MARKED, ResultMethod.GOLD, detail=f"{marked[item_id]} new")
        )
    return decisions


def _judgements(
    project: DatasetProject, policy: QualityPolicy, gold_values: Mapping[int, Any]
) -> list[GoldJudgement]:
    """A judgement (unsaved) of every counted answer on these gold items not marked yet."""
    new = (
        counted_annotations(item_id__in=list(gold_values))
        .filter(gold_judgement__isnull=True)
        .values_list("pk", "item_id", "annotator_id", "result")
    )
    judgements = []
    for pk, item_id, annotator_id, result in new:
        score, correct = gold_mark(
            project.task_type,
            L.comparable(project.task_type, result),
            gold_values[item_id],
            iou_threshold=float(policy.iou_threshold),
            text_tolerance=float(policy.text_tolerance),
        )
        judgements.append(
            GoldJudgement(
                annotation_id=pk,
                project=project,
                item_id=item_id,
                annotator_id=annotator_id,
                correct=correct,
                score=score,
            )  # fmt: skip
        )
    return judgements


def _gold_refresh(project: DatasetProject, policy: QualityPolicy, annotator_ids: Iterable[int]) -> None:
    rows = quality_rows_lock(project, annotator_ids)  # locked first: counts below see every committed mark
    stats = (
        GoldJudgement.objects.filter(project=project, annotator_id__in=list(rows))
        .values("annotator_id")
        .annotate(n=Count("pk"), right=Count("pk", filter=Q(correct=True)), total=Sum("score"))
    )
    for s in stats:
        interval = wilson_interval(s["right"], s["n"])
        AnnotatorQuality.objects.filter(pk=rows[s["annotator_id"]].pk).update(
            gold_answered=s["n"], gold_correct=s["right"], gold_score_sum=s["total"] or 0.0,
            gold_low=interval.low, gold_high=interval.high,
        )  # fmt: skip
    scores_refresh(project, rows.keys())
    for annotator_id in sorted(rows):
        if not _exam_check(project, policy, annotator_id):
            _accuracy_check(project, policy, annotator_id)


def _gold_results(project: DatasetProject, items: Sequence[Item], gold_values: Mapping[int, Any]) -> None:
    """A gold item's Result is its gold answer; agreement is the share of answers that were right."""
    if not items:
        return
    stats = {
        s["item_id"]: s
        for s in GoldJudgement.objects.filter(item__in=items)
        .values("item_id")
        .annotate(n=Count("pk"), right=Count("pk", filter=Q(correct=True)))
    }
    names = L.region_names(project.task_type, [])
    for item in items:
        s = stats.get(item.pk, {"n": 0, "right": 0})
        Result.objects.update_or_create(
            item=item,
            defaults={
                "project": project,
                "label": item.gold_answer
                if isinstance(item.gold_answer, list)
                else L.to_result(project.task_type, gold_values[item.pk], names),
                "method": ResultMethod.GOLD,
                "agreement": s["right"] / s["n"] if s["n"] else None,
                "annotations_used": min(s["n"], _SMALLINT_MAX),
            },
        )


def _exam_check(project: DatasetProject, policy: QualityPolicy, annotator_id: int) -> bool:
    """Decide a newcomer's entry exam once they have answered all of it. True if
    the annotator is (still) in the exam or was just decided on it."""
    size = exam_size(project=project, policy=policy)
    if not size or EntryExam.objects.filter(project=project, annotator_id=annotator_id).exists():
        return False
    if Assignment.objects.filter(project=project, annotator_id=annotator_id, is_gold=False).exists():
        return False  # worked here before the exam was required
    first = list(
        GoldJudgement.objects.filter(project=project, annotator_id=annotator_id)
        .order_by("annotation_id")
        .values_list("correct", flat=True)[:size]
    )
    if len(first) < size:
        return True
    right = sum(first)
    mark = float(policy.exam_pass_accuracy)
    passed = right / size >= mark - 1e-9
    note = f"entry exam: {right}/{size} correct, pass mark {mark:.0%}"
    EntryExam.objects.create(
        project=project,
        annotator_id=annotator_id,
        status=ExamStatus.PASSED if passed else ExamStatus.FAILED,
        answered=size,
        correct=right,
        note=note,
    )
    if not passed:
        annotator_pause(project, annotator_id, f"failed the {note}")
    return True


def _accuracy_check(project: DatasetProject, policy: QualityPolicy, annotator_id: int) -> None:
    """Pause when gold accuracy is below the threshold even at the optimistic end
    of its 95% interval, after enough gold answers (and after any grace a
    manager's un-pause gave)."""
    q = AnnotatorQuality.objects.get(project=project, annotator_id=annotator_id)
    threshold = float(policy.accuracy_threshold)
    if q.gold_answered < max(policy.min_gold_to_pause, q.gold_grace_until) or q.gold_high is None:
        return
    if q.gold_high >= threshold:
        return
    if AnnotatorStanding.objects.filter(project=project, annotator_id=annotator_id, paused=True).exists():
        return
    annotator_pause(
        project,
        annotator_id,
        f"gold accuracy {q.gold_correct}/{q.gold_answered} = {q.gold_correct / q.gold_answered:.0%} "
        f"(95% CI {q.gold_low:.0%}–{q.gold_high:.0%}) is below the project's {threshold:.0%}",
    )
