"""Review: items whose consensus stays too weak at the most annotators (or that
have no automatic consensus) are routed to a reviewer, whose decision becomes
the item's Result (method=review).

``reviews_open`` is called by decisions.py while it holds the items' lock;
``review_decide`` is the reviewer's entry point (keyword-only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from qianbiao.projects.lifecycle import item_accept_reviewed, items_send_to_review
from qianbiao.projects.models import DatasetProject
from qianbiao.workforce.models import Annotator, AnnotatorStatus

from . import labels as L
from .answers import COMPARABLE_TYPES, Answer, answers_by_item, answers_region_names
from .judging import agreement_with
from .models import Result, ResultMethod, Review, ReviewOutcome
from .outcomes import items_moved_check
from .selectors import policy_get
from .standing import annotators_credit

if TYPE_CHECKING:
    from .proposals import Proposal


def reviews_open(*, project: DatasetProject, routed: Sequence[tuple[Proposal, str]]) -> None:
    """Open a review of each (proposal, why) and put its item in review."""
    Review.objects.bulk_create(
        [
            Review(
                item_id=p.item_id,
                project=project,
                reason=why,
                proposed_label=p.label,
                proposed_method=p.method,
                proposed_agreement=p.agreement,
                annotations_used=p.used,
            )  # fmt: skip
            for p, why in routed
        ]
    )
    review_ids = [p.item_id for p, _ in routed]
    items_moved_check(expected=review_ids, moved=items_send_to_review(item_ids=review_ids), to="review")


@transaction.atomic
def review_decide(
    *, review_id: int, reviewer_id: int, outcome: str, label: Any = None, note: str = ""
) -> Result:
    """Record a reviewer's decision; it becomes the item's Result (method=review).

    ``accept`` takes the proposed label, ``correct`` takes ``label`` (Label
    Studio's result form or the short form gold answers use), ``reject`` marks the
    item as impossible to label. Annotators' review agreement is credited."""
    review = Review.objects.select_for_update().select_related("project", "item").get(pk=review_id)
    if review.decided_at is not None:
        raise ValidationError(f"review {review_id} was decided already ({review.outcome})")
    reviewer = Annotator.objects.get(pk=reviewer_id)
    if not reviewer.is_reviewer or reviewer.status != AnnotatorStatus.ACTIVE:
        raise ValidationError({"reviewer": "only active annotators with the reviewer role review"})
    project, item = review.project, review.item
    answers = answers_by_item([item.pk]).get(item.pk, [])
    if any(a.annotator_id == reviewer.pk for a in answers):
        raise ValidationError({"reviewer": "a reviewer does not review an item they annotated"})
    if outcome not in ReviewOutcome.values:
        raise ValidationError({"outcome": f"one of {ReviewOutcome.values}"})

    final = _final_label(review, outcome, label, answers)
    review.reviewer = reviewer
    review.outcome = outcome
    review.label = final
    review.note = note
    review.decided_at = timezone.now()
    review.save(update_fields=["reviewer", "outcome", "label", "note", "decided_at"])

    agreement = _review_credit(project, final, answers)
    result, _ = Result.objects.update_or_create(
        item=item,
        defaults={
            "project": project,
            "label": final if final is not None else [],
            "method": ResultMethod.REVIEW,
            "agreement": agreement,
            "confidence": None,
            "rejected": outcome == ReviewOutcome.REJECT,
            "annotations_used": len(answers),
        },
    )
    items_moved_check(expected=[item.pk], moved=int(item_accept_reviewed(item_id=item.pk)), to="accepted")
    return result


def _final_label(review: Review, outcome: str, label: Any, answers: Sequence[Answer]) -> Any:
    """The label the reviewer's outcome gives the item (None for a rejection)."""
    project = review.project
    task_type = project.task_type
    if outcome == ReviewOutcome.ACCEPT:
        return review.proposed_label
    if outcome != ReviewOutcome.CORRECT:
        return None
    if label is None:
        raise ValidationError({"label": "a correction needs the corrected label"})
    if task_type in COMPARABLE_TYPES:
        try:
            value = L.gold_comparable(task_type, label)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError({"label": f"cannot read the label: {exc}"}) from exc
        return L.to_result(task_type, value, answers_region_names(project, answers))
    if isinstance(label, list):
        return label  # a type quality control does not compare: kept as Label Studio gave it
    raise ValidationError({"label": "give the label in Label Studio's result form"})


def _review_credit(project: DatasetProject, final: Any, answers: Sequence[Answer]) -> float | None:
    """Credit each annotator's agreement with the reviewed label; their mean, or
    None when there is nothing to compare."""
    task_type = project.task_type
    if final is None or not answers or task_type not in COMPARABLE_TYPES:
        return None
    reference = L.comparable(task_type, final)
    iou = float(policy_get(project=project).iou_threshold)
    per = {
        a.annotator_id: agreement_with(
            task_type, L.comparable(task_type, a.result), reference, iou_threshold=iou
        )
        for a in answers
    }
    annotators_credit(project, review={a: (1, s) for a, s in per.items()})
    return sum(per.values()) / len(per)
