"""Proposals: what the annotations say an item's label is, before settling
(decisions.py) accepts it, adds annotators or sends the item to review.

Classification fits one consensus method over the project's recent annotations
at once; the other comparable types reach a consensus per item (judging.py).
recheck.py fits every method on the same rows (``classification_rows``,
``gold_labels``) to measure them on gold."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from qianbiao.projects.models import DatasetProject, Item

from . import labels as L
from .aggregation import MAJORITY_VOTE, aggregate, gold_pseudo_tasks
from .answers import Answer, answers_region_names
from .judging import item_consensus
from .models import QualityPolicy, ResultMethod
from .selectors import counted_annotations

logger = logging.getLogger(__name__)

# A classification fit sees at most this many of the project's most recent
# counted annotations (plus all of the items being decided): enough to estimate
# every active annotator's behaviour, and a bounded cost however large the project.
# Measured on 99,000 rows (300 annotators, 2 loaded cores): majority vote and
# Wawa 1.6 s, one-coin DS 11 s, Dawid-Skene 23 s, ZBS 12 s, MACE 12 s, GLAD 330 s.
# So decide in batches (``items_decide``/``project_decide_ready``), never one
# fit per item; a recheck fits every method three times (about 20 minutes here).
CONTEXT_ANNOTATIONS = 100_000


@dataclass(frozen=True)
class Proposal:
    item_id: int
    label: list[dict[str, Any]]  # Label Studio result form
    method: str
    agreement: float | None
    confidence: float | None
    used: int
    credits: tuple[tuple[int, float], ...]  # (annotator, agreement with the proposal)
    review_only: bool = False  # no automatic consensus for the task type: straight to review


def single_proposal(item_id: int, answers: Sequence[Answer]) -> Proposal:
    """Overlap 1: the one annotation is the result; gold alone vouches for it."""
    answer = answers[-1]
    return Proposal(item_id, answer.result, ResultMethod.SINGLE, None, None, 1, ((answer.annotator_id, 1.0),))


def review_only_proposal(item_id: int, answers: Sequence[Answer]) -> Proposal:
    """No automatic consensus for this task type (video tracking): a reviewer
    decides, shown the first annotation; more annotators would not help."""
    return Proposal(item_id, answers[0].result, ResultMethod.SINGLE, None, None, len(answers), (), True)


def item_proposal(
    project: DatasetProject, policy: QualityPolicy, item: Item, answers: Sequence[Answer]
) -> Proposal:
    values = [L.comparable(project.task_type, a.result) for a in answers]
    c = item_consensus(project.task_type, values, iou_threshold=float(policy.iou_threshold))
    label = L.to_result(project.task_type, c.value, answers_region_names(project, answers))
    credits = tuple((a.annotator_id, s) for a, s in zip(answers, c.per_annotation, strict=True))
    return Proposal(item.pk, label, c.method, c.agreement, None, len(answers), credits)


def classification_rows(project: DatasetProject, item_ids: Sequence[int], with_context: bool):
    qs = counted_annotations(item_id__in=list(item_ids)).values_list(
        "pk", "item_id", "annotator_id", "result"
    )
    rows = {r[0]: r for r in qs}
    if with_context:
        context = (
            counted_annotations(project=project)
            .order_by("-pk")
            .values_list("pk", "item_id", "annotator_id", "result")[:CONTEXT_ANNOTATIONS]
        )
        rows.update((r[0], r) for r in context)
    latest: dict[tuple[int, int], tuple] = {}
    for _pk, item_id, annotator_id, result in sorted(rows.values()):  # oldest first: latest wins
        latest[(item_id, annotator_id)] = (str(item_id), annotator_id, L.classification_label(result))
    return pd.DataFrame(list(latest.values()), columns=["task", "worker", "label"])


def gold_labels(project: DatasetProject, tasks: Iterable[str]) -> dict[str, str]:
    present = {int(t) for t in tasks if t.isdigit()}
    gold = {}
    for pk, answer in Item.objects.filter(project=project, is_gold=True, pk__in=present).values_list(
        "pk", "gold_answer"
    ):
        try:
            gold[str(pk)] = L.gold_comparable(project.task_type, answer)
        except (ValueError, KeyError, TypeError):
            logger.warning("gold item %s has an unreadable answer; left out", pk)
    return gold


def classification_proposals(
    project: DatasetProject,
    policy: QualityPolicy,
    items: Sequence[Item],
    answers: Mapping[int, Sequence[Answer]],
) -> list[Proposal]:
    """One fit of the project's method over its recent annotations, read for the
    items at hand. The fit is the one its gold accuracy was measured on (cut 0
    of the gold answers), so the measured accuracy is the accuracy delivered."""
    method = policy.method
    frame = classification_rows(project, [i.pk for i in items], with_context=method != MAJORITY_VOTE)
    gold = gold_labels(project, frame["task"].unique()) if method != MAJORITY_VOTE else {}
    fit_frame, _ = gold_pseudo_tasks(frame, gold, overlap=project.overlap)
    try:
        consensus = aggregate(fit_frame, method=method)
    except Exception:  # a method failing on this data must not stop decisions
        logger.exception("project %s: %s failed; falling back to majority vote", project.pk, method)
        method = MAJORITY_VOTE
        consensus = aggregate(fit_frame, method=method)
    proposals = []
    for item in items:
        c = consensus[str(item.pk)]
        mine = answers[item.pk]
        label = L.to_result(project.task_type, c.label, answers_region_names(project, mine))
        credits = tuple(
            (a.annotator_id, 1.0 if L.classification_label(a.result) == c.label else 0.0) for a in mine
        )
        proposals.append(Proposal(item.pk, label, method, c.agreement, c.confidence, c.annotations, credits))
    return proposals
