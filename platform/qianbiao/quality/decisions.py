"""Deciding items: once an item may have all its annotations, its answers become
a Result, more annotators, or a review.

Entry points (all keyword-only, all safe to run twice):

- ``item_decide`` / ``items_decide``: called when an item may have all its
  annotations (the ingestion hands over item ids; the sweep hands over
  ``selectors.items_ready``). A gold item marks every new answer on it (gold.py);
  an ordinary item with ``overlap + extra_slots`` counted answers gets a
  consensus (proposals.py), which becomes its Result if agreement reaches the
  project's threshold, else the item gets more annotators (``Item.extra_slots``,
  filled by the distributor) up to the policy's maximum, and then goes to review
  (review.py).
- ``project_decide_ready``: the sweep's batch for one project.

A decision is taken once: the item row is locked and an item that already has a
Result or an open review is left alone, so a retried task changes nothing. The
item's state moves through projects.lifecycle, from the state the decision expects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.db import transaction

from qianbiao.projects.lifecycle import items_accept, items_widen
from qianbiao.projects.models import MAX_OVERLAP, DatasetProject, Item, ItemState

from . import labels as L
from .answers import COMPARABLE_TYPES, Answer, answers_by_item
from .gold import gold_items_mark
from .models import QualityPolicy, Result
from .outcomes import Decision, Outcome, items_moved_check
from .proposals import (
    Proposal,
    classification_proposals,
    item_proposal,
    review_only_proposal,
    single_proposal,
)
from .review import reviews_open
from .selectors import policy_get
from .standing import annotators_credit


def item_decide(*, item_id: int) -> Decision:
    return items_decide(item_ids=[item_id])[0]


def items_decide(*, item_ids: Sequence[int]) -> list[Decision]:
    """Decide each item as far as its annotations allow; one Decision per id, in order."""
    items = list(Item.objects.filter(pk__in=list(item_ids)).select_related("project"))
    by_project: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_project[item.project_id].append(item)
    decided: dict[int, Decision] = {}
    for project_items in by_project.values():
        project = project_items[0].project
        for decision in _project_items_decide(project, project_items):
            decided[decision.item_id] = decision
    missing = [i for i in item_ids if i not in decided]
    if missing:
        raise Item.DoesNotExist(f"no items {missing}")
    return [decided[i] for i in item_ids]


def project_decide_ready(*, project_id: int, limit: int = 10_000) -> list[Decision]:
    """The sweep: decide every ordinary item of the project that is ready."""
    from .selectors import items_ready

    project = DatasetProject.objects.get(pk=project_id)
    return items_decide(item_ids=items_ready(project=project, limit=limit))


def _project_items_decide(project: DatasetProject, items: Sequence[Item]) -> list[Decision]:
    policy = policy_get(project=project)
    gold = [i for i in items if i.is_gold]
    ordinary = [i for i in items if not i.is_gold]
    decisions: list[Decision] = []
    if gold:
        decisions += gold_items_mark(project, policy, gold)
    if not ordinary:
        return decisions
    answers = answers_by_item([i.pk for i in ordinary])
    ready = _ready(project, ordinary, answers, decisions)
    if not ready:
        return decisions
    return decisions + _settle(project, policy, _proposals(project, policy, ready, answers))


def _ready(
    project: DatasetProject,
    items: Sequence[Item],
    answers: Mapping[int, Sequence[Answer]],
    decisions: list[Decision],
) -> list[Item]:
    """The items with all their answers in; a Decision in ``decisions`` for each of the others."""
    done = set(Result.objects.filter(item__in=items).values_list("item_id", flat=True))
    ready: list[Item] = []
    for item in items:
        got = len(answers.get(item.pk, ()))
        if item.pk in done or item.state in (ItemState.REVIEW, ItemState.ACCEPTED):
            decisions.append(Decision(item.pk, Outcome.ALREADY_DECIDED, annotations=got))
        elif got < project.overlap + item.extra_slots:
            decisions.append(
                Decision(
                    item.pk,
                    Outcome.WAITING,
                    annotations=got,
                    detail=f"needs {project.overlap + item.extra_slots}",
                )
            )
        else:
            ready.append(item)
    return ready


def _proposals(
    project: DatasetProject,
    policy: QualityPolicy,
    ready: Sequence[Item],
    answers: Mapping[int, Sequence[Answer]],
) -> list[Proposal]:
    if project.overlap == 1 and all(i.extra_slots == 0 for i in ready):
        return [single_proposal(i.pk, answers[i.pk]) for i in ready]
    if project.task_type == L.CLASSIFICATION:
        return classification_proposals(project, policy, ready, answers)
    if project.task_type in COMPARABLE_TYPES:
        return [item_proposal(project, policy, i, answers[i.pk]) for i in ready]
    return [review_only_proposal(i.pk, answers[i.pk]) for i in ready]


@dataclass
class _Settled:
    """What settling one batch decided, written together at the end of its transaction."""

    decisions: list[Decision] = field(default_factory=list)
    accepted: list[Proposal] = field(default_factory=list)
    widen: dict[int, int] = field(default_factory=dict)  # item id: slots added
    to_review: list[tuple[Proposal, str]] = field(default_factory=list)  # (proposal, why)


def _settle(project: DatasetProject, policy: QualityPolicy, proposals: Sequence[Proposal]) -> list[Decision]:
    """Accept, add annotators or send to review, in one transaction for the batch."""
    threshold = float(project.agreement_threshold)
    settled = _Settled()
    with transaction.atomic():
        ids = [p.item_id for p in proposals]
        # Locked in id order, so two batches over the same items cannot deadlock.
        locked = {i.pk: i for i in Item.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        done = set(Result.objects.filter(item_id__in=ids).values_list("item_id", flat=True))
        for p in proposals:
            item = locked[p.item_id]
            if p.item_id in done or item.state in (ItemState.REVIEW, ItemState.ACCEPTED):
                settled.decisions.append(Decision(p.item_id, Outcome.ALREADY_DECIDED, annotations=p.used))
                continue
            needed = project.overlap + item.extra_slots
            if p.used < needed:
                # A concurrent decision widened the item after this proposal's answers
                # were read: it waits for its new annotators, not widened again or reviewed.
                settled.decisions.append(
                    Decision(p.item_id, Outcome.WAITING, annotations=p.used, detail=f"needs {needed}")
                )
                continue
            if not p.review_only and (p.agreement is None or p.agreement >= threshold - 1e-9):
                settled.accepted.append(p)
                settled.decisions.append(Decision(p.item_id, Outcome.ACCEPTED, p.method, p.agreement, p.used))
                continue
            _widen_or_review(project, policy, p, needed, settled)
        _settled_write(project, settled)
    return settled.decisions


def _widen_or_review(
    project: DatasetProject, policy: QualityPolicy, p: Proposal, needed: int, settled: _Settled
) -> None:
    """A proposal below the threshold: more annotators while the policy allows, else review."""
    threshold = float(project.agreement_threshold)
    most = min(policy.max_overlap, MAX_OVERLAP)
    if p.review_only:
        why = f"no automatic consensus for {project.task_type}"
    else:
        why = f"agreement {p.agreement:.2f} below {threshold:.2f} with {p.used} annotators"
    if needed < most and not p.review_only:
        add = min(policy.extra_per_round, most - needed)
        settled.widen[p.item_id] = add
        settled.decisions.append(
            Decision(p.item_id, Outcome.MORE_ANNOTATORS, p.method, p.agreement, p.used, f"{why}: +{add}")
        )
        return
    settled.to_review.append((p, why))
    settled.decisions.append(Decision(p.item_id, Outcome.REVIEW, p.method, p.agreement, p.used, why))


def _settled_write(project: DatasetProject, settled: _Settled) -> None:
    """Results, reviews and the items' new states, and the accepted answers' credit."""
    Result.objects.bulk_create([_result(project, p) for p in settled.accepted])
    accepted_ids = [p.item_id for p in settled.accepted]
    items_moved_check(expected=accepted_ids, moved=items_accept(item_ids=accepted_ids), to="accepted")
    reviews_open(project=project, routed=settled.to_review)
    if settled.widen:
        items_moved_check(expected=settled.widen, moved=items_widen(extra_slots=settled.widen), to="pending")
    credit: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
    for p in settled.accepted:
        for annotator_id, agreement in p.credits:
            credit[annotator_id][0] += 1
            credit[annotator_id][1] += agreement
    if credit:
        annotators_credit(project, consensus={a: (int(n), s) for a, (n, s) in credit.items()})


def _result(project: DatasetProject, p: Proposal) -> Result:
    return Result(
        item_id=p.item_id,
        project=project,
        label=p.label,
        method=p.method,
        agreement=p.agreement,
        confidence=p.confidence,
        annotations_used=p.used,
    )  # fmt: skip
