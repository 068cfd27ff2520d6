"""Annotators' standing in a project: their quality records and scores (copied to
the standings the distributor reads), and pausing them and letting them back.

Credit comes from accepted consensus results (decisions.py), reviews (review.py)
and gold (gold.py); a pause takes back the annotator's open work in the project."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from qianbiao.projects.lifecycle import assignments_revoke_for_annotator
from qianbiao.projects.models import AnnotatorStanding, DatasetProject

from .judging import quality_score
from .models import AnnotatorQuality, EntryExam, ExamStatus
from .selectors import policy_get

logger = logging.getLogger(__name__)


def quality_rows_lock(project: DatasetProject, annotator_ids: Iterable[int]) -> dict[int, AnnotatorQuality]:
    """The annotators' quality rows in the project, created if missing, locked."""
    ids = sorted(set(annotator_ids))
    AnnotatorQuality.objects.bulk_create(
        [AnnotatorQuality(project=project, annotator_id=a, task_type=project.task_type) for a in ids],
        ignore_conflicts=True,
    )
    return {
        q.annotator_id: q
        for q in AnnotatorQuality.objects.select_for_update()
        .filter(project=project, annotator_id__in=ids)
        .order_by("annotator_id")
    }


def annotators_credit(
    project: DatasetProject,
    *,
    consensus: Mapping[int, tuple[int, float]] | None = None,
    review: Mapping[int, tuple[int, float]] | None = None,
) -> None:
    """Add agreement with accepted results / reviews to annotators' records."""
    consensus, review = consensus or {}, review or {}
    rows = quality_rows_lock(project, [*consensus, *review])
    for annotator_id, (n, total) in consensus.items():
        AnnotatorQuality.objects.filter(pk=rows[annotator_id].pk).update(
            consensus_answered=F("consensus_answered") + n,
            consensus_agreement_sum=F("consensus_agreement_sum") + total,
        )
    for annotator_id, (n, total) in review.items():
        AnnotatorQuality.objects.filter(pk=rows[annotator_id].pk).update(
            reviewed=F("reviewed") + n, review_agreement_sum=F("review_agreement_sum") + total
        )
    scores_refresh(project, rows.keys())


def scores_refresh(project: DatasetProject, annotator_ids: Iterable[int]) -> None:
    """Recompute quality scores and copy them to the standings the distributor reads."""
    for q in AnnotatorQuality.objects.filter(project=project, annotator_id__in=list(annotator_ids)):
        score = quality_score(
            gold_score_sum=q.gold_score_sum,
            gold_answered=q.gold_answered,
            consensus_sum=q.consensus_agreement_sum,
            consensus_answered=q.consensus_answered,
            review_sum=q.review_agreement_sum,
            reviewed=q.reviewed,
        )
        AnnotatorQuality.objects.filter(pk=q.pk).update(score=score)
        if score is not None:
            AnnotatorStanding.objects.update_or_create(
                project=project,
                annotator_id=q.annotator_id,
                defaults={"quality_score": Decimal(str(round(score, 3)))},
            )


def annotator_pause(project: DatasetProject, annotator_id: int, reason: str) -> None:
    """Pause the annotator in the project and take back their open work there;
    the freed items go back to pending and the next distribution passes them on."""
    AnnotatorStanding.objects.update_or_create(
        project=project,
        annotator_id=annotator_id,
        defaults={"paused": True, "paused_reason": reason[:300], "paused_at": timezone.now()},
    )
    assignments_revoke_for_annotator(annotator_id=annotator_id, project_ids=[project.pk])
    logger.info("paused annotator %s in project %s: %s", annotator_id, project.pk, reason)


@transaction.atomic
def annotator_unpause(*, project: DatasetProject, annotator_id: int, note: str = "") -> AnnotatorStanding:
    """A manager lets a paused annotator work in the project again.

    A failed entry exam is waived. Accuracy pauses get a fresh start: the
    accuracy check waits for ``min_gold_to_pause`` more gold answers before it
    looks again (their history still counts in the figures)."""
    standing, _ = AnnotatorStanding.objects.update_or_create(
        project=project,
        annotator_id=annotator_id,
        defaults={"paused": False, "paused_reason": "", "paused_at": None},
    )
    EntryExam.objects.filter(project=project, annotator_id=annotator_id, status=ExamStatus.FAILED).update(
        status=ExamStatus.WAIVED, note=(note or "waived by a manager")[:300]
    )
    policy = policy_get(project=project)
    rows = quality_rows_lock(project, [annotator_id])
    AnnotatorQuality.objects.filter(pk=rows[annotator_id].pk).update(
        gold_grace_until=F("gold_answered") + policy.min_gold_to_pause
    )
    return standing
