"""Quality control's writes: deciding items, marking gold, pausing, reviewing.

Entry points (all keyword-only, all safe to run twice):

- ``item_decide`` / ``items_decide``: called when an item may have all its
  annotations (the ingestion hands over item ids; the sweep hands over
  ``selectors.items_ready``). A gold item marks every new answer on it; an
  ordinary item with ``overlap + extra_slots`` counted answers gets a consensus,
  which becomes its Result if agreement reaches the project's threshold, else the
  item gets more annotators (``Item.extra_slots``, filled by the distributor) up to
  the policy's maximum, and then goes to review.
- ``project_method_recheck``: re-measures every classification method on the
  project's gold once gold has grown enough, and records the best (its own task,
  enqueued by the sweep when ``method_recheck_due``).
- ``review_decide``: a reviewer accepts, corrects or rejects; that becomes the Result.
- ``annotator_unpause``, ``policy_ensure``, ``policy_pin_method``: for managers.

A decision is taken once: the item row is locked and an item that already has a
Result or an open review is left alone, so a retried task changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from qianbiao.projects.lifecycle import assignments_revoke_for_annotator
from qianbiao.projects.models import (
    MAX_OVERLAP,
    AnnotatorStanding,
    Assignment,
    DatasetProject,
    Item,
    ItemState,
)
from qianbiao.workforce.models import Annotator, AnnotatorStatus

from . import labels as L
from .aggregation import (
    CLASSIFICATION_METHODS,
    GOLD_CUTS,
    MAJORITY_VOTE,
    aggregate,
    gold_pseudo_tasks,
    method_choose,
    methods_run,
)
from .intervals import wilson_interval
from .judging import agreement_with, gold_mark, item_consensus, quality_score
from .models import (
    AnnotatorQuality,
    EntryExam,
    ExamStatus,
    GoldJudgement,
    QualityPolicy,
    Result,
    ResultMethod,
    Review,
    ReviewOutcome,
)
from .selectors import counted_annotations, exam_size, policy_get

logger = logging.getLogger(__name__)

# A classification fit sees at most this many of the project's most recent
# counted annotations (plus all of the items being decided): enough to estimate
# every active annotator's behaviour, and a bounded cost however large the project.
# Measured on 99,000 rows (300 annotators, 2 loaded cores): majority vote and
# Wawa 1.6 s, one-coin DS 11 s, Dawid-Skene 23 s, ZBS 12 s, MACE 12 s, GLAD 330 s.
# So decide in batches (``items_decide``/``project_decide_ready``), never one
# fit per item; a recheck fits every method three times (about 20 minutes here).
CONTEXT_ANNOTATIONS = 100_000
# Re-measure the methods once gold answers have grown by a quarter (and by at least 30).
RECHECK_GROWTH = 1.25
RECHECK_MIN_NEW = 30
# At most one re-check enqueued per project in this long (a failed or timed-out
# one is retried after it, not every minute).
RECHECK_RETRY_AFTER = dt.timedelta(hours=1)
# Fewer gold pseudo-items than this in a cut and majority vote stands.
MIN_GOLD_PSEUDO_ITEMS = 30
# The methods a recheck measures (all of crowd-kit's that run on this data).
CANDIDATE_METHODS: tuple[str, ...] = CLASSIFICATION_METHODS
# Task types quality control can compare (consensus, gold marking, review agreement).
_COMPARABLE_TYPES = (L.CLASSIFICATION, *L.OBJECT_TYPES, L.TRANSCRIPTION)
# PositiveSmallIntegerField; a gold item may have thousands of answers.
_SMALLINT_MAX = 32_767


class Outcome:
    WAITING = "waiting"  # not all its annotations are in
    ACCEPTED = "accepted"  # a Result was written
    MORE_ANNOTATORS = "more_annotators"  # agreement too low: extra slots added
    REVIEW = "review"  # agreement too low at the most annotators: sent to review
    GOLD_MARKED = "gold_marked"  # a gold item: new answers marked
    ALREADY_DECIDED = "already_decided"


@dataclass(frozen=True)
class Decision:
    item_id: int
    outcome: str
    method: str = ""
    agreement: float | None = None
    annotations: int = 0
    detail: str = ""


@dataclass(frozen=True)
class _Answer:
    annotation_id: int
    annotator_id: int
    result: Any


@dataclass(frozen=True)
class _Proposal:
    item_id: int
    label: list[dict[str, Any]]  # Label Studio result form
    method: str
    agreement: float | None
    confidence: float | None
    used: int
    credits: tuple[tuple[int, float], ...]  # (annotator, agreement with the proposal)
    review_only: bool = False  # no automatic consensus for the task type: straight to review


# --- policy ---------------------------------------------------------------------------------------


def policy_ensure(*, project: DatasetProject) -> QualityPolicy:
    policy, _ = QualityPolicy.objects.get_or_create(project=project)
    return policy


def policy_pin_method(*, project: DatasetProject, method: str) -> QualityPolicy:
    """Pin a consensus method (a project manager's override); "" un-pins."""
    if method and method not in CLASSIFICATION_METHODS:
        raise ValidationError({"pinned_method": f"unknown classification method {method!r}"})
    policy = policy_ensure(project=project)
    policy.pinned_method = method
    policy.save(update_fields=["pinned_method"])
    return policy


# --- deciding items -------------------------------------------------------------------------------


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
        decisions += _gold_items_mark(project, policy, gold)
    if not ordinary:
        return decisions
    answers = _answers([i.pk for i in ordinary])
    done = set(Result.objects.filter(item__in=ordinary).values_list("item_id", flat=True))
    ready: list[Item] = []
    for item in ordinary:
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
    if not ready:
        return decisions
    if project.overlap == 1 and all(i.extra_slots == 0 for i in ready):
        proposals = [_single_proposal(i.pk, answers[i.pk]) for i in ready]
    elif project.task_type == L.CLASSIFICATION:
        proposals = _classification_proposals(project, policy, ready, answers)
    elif project.task_type in _COMPARABLE_TYPES:
        proposals = [_item_proposal(project, policy, i, answers[i.pk]) for i in ready]
    else:
        # No automatic consensus for this task type (video tracking): a reviewer
        # decides, shown the first annotation; more annotators would not help.
        proposals = [
            _Proposal(
                i.pk, answers[i.pk][0].result, ResultMethod.SINGLE, None, None, len(answers[i.pk]), (), True
            )
            for i in ready
        ]
    return decisions + _settle(project, policy, proposals)


def _answers(item_ids: Sequence[int]) -> dict[int, list[_Answer]]:
    """Counted annotations per item, the latest per annotator."""
    out: dict[int, dict[int, _Answer]] = defaultdict(dict)
    for pk, item_id, annotator_id, result in (
        counted_annotations(item_id__in=list(item_ids))
        .order_by("item_id", "annotator_id", "pk")
        .values_list("pk", "item_id", "annotator_id", "result")
    ):
        out[item_id][annotator_id] = _Answer(pk, annotator_id, result)
    return {item_id: list(by_annotator.values()) for item_id, by_annotator in out.items()}


def _names(project: DatasetProject, answers: Iterable[_Answer]) -> L.RegionNames:
    return L.region_names(project.task_type, (a.result for a in answers))


def _single_proposal(item_id: int, answers: Sequence[_Answer]) -> _Proposal:
    """Overlap 1: the one annotation is the result; gold alone vouches for it."""
    answer = answers[-1]
    return _Proposal(
        item_id, answer.result, ResultMethod.SINGLE, None, None, 1, ((answer.annotator_id, 1.0),)
    )


def _item_proposal(
    project: DatasetProject, policy: QualityPolicy, item: Item, answers: Sequence[_Answer]
) -> _Proposal:
    values = [L.comparable(project.task_type, a.result) for a in answers]
    c = item_consensus(project.task_type, values, iou_threshold=float(policy.iou_threshold))
    label = L.to_result(project.task_type, c.value, _names(project, answers))
    credits = tuple((a.annotator_id, s) for a, s in zip(answers, c.per_annotation, strict=True))
    return _Proposal(item.pk, label, c.method, c.agreement, None, len(answers), credits)


def _classification_rows(project: DatasetProject, item_ids: Sequence[int], with_context: bool):
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


def _gold_labels(project: DatasetProject, tasks: Iterable[str]) -> dict[str, str]:
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


def _classification_proposals(
    project: DatasetProject,
    policy: QualityPolicy,
    items: Sequence[Item],
    answers: Mapping[int, Sequence[_Answer]],
) -> list[_Proposal]:
    """One fit of the project's method over its recent annotations, read for the
    items at hand. The fit is the one its gold accuracy was measured on (cut 0
    of the gold answers), so the measured accuracy is the accuracy delivered."""
    method = policy.method
    frame = _classification_rows(project, [i.pk for i in items], with_context=method != MAJORITY_VOTE)
    gold = _gold_labels(project, frame["task"].unique()) if method != MAJORITY_VOTE else {}
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
        label = L.to_result(project.task_type, c.label, _names(project, mine))
        credits = tuple(
            (a.annotator_id, 1.0 if L.classification_label(a.result) == c.label else 0.0) for a in mine
        )
        proposals.append(_Proposal(item.pk, label, method, c.agreement, c.confidence, c.annotations, credits))
    return proposals


def _settle(project: DatasetProject, policy: QualityPolicy, proposals: Sequence[_Proposal]) -> list[Decision]:
    """Accept, add annotators or send to review, in one transaction for the batch."""
    threshold = float(project.agreement_threshold)
    most = min(policy.max_overlap, MAX_OVERLAP)
    decisions = []
    with transaction.atomic():
        ids = [p.item_id for p in proposals]
        # Locked in id order, so two batches over the same items cannot deadlock.
        locked = {i.pk: i for i in Item.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        done = set(Result.objects.filter(item_id__in=ids).values_list("item_id", flat=True))
        results, reviews, widened = [], [], []
        accepted_ids, review_ids = [], []
        credit: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
        for p in proposals:
            item = locked[p.item_id]
            if p.item_id in done or item.state in (ItemState.REVIEW, ItemState.ACCEPTED):
                decisions.append(Decision(p.item_id, Outcome.ALREADY_DECIDED, annotations=p.used))
                continue
            needed = project.overlap + item.extra_slots
            if p.used < needed:
                # A concurrent decision widened the item after this proposal's answers
                # were read: it waits for its new annotators, not widened again or reviewed.
                decisions.append(
                    Decision(p.item_id, Outcome.WAITING, annotations=p.used, detail=f"needs {needed}")
                )
                continue
            if not p.review_only and (p.agreement is None or p.agreement >= threshold - 1e-9):
                results.append(
                    Result(
                        item_id=p.item_id,
                        project=project,
                        label=p.label,
                        method=p.method,
                        agreement=p.agreement,
                        confidence=p.confidence,
                        annotations_used=p.used,
                    )  # fmt: skip
                )
                accepted_ids.append(p.item_id)
                for annotator_id, agreement in p.credits:
                    credit[annotator_id][0] += 1
                    credit[annotator_id][1] += agreement
                decisions.append(Decision(p.item_id, Outcome.ACCEPTED, p.method, p.agreement, p.used))
                continue
            if p.review_only:
                why = f"no automatic consensus for {project.task_type}"
            else:
                why = f"agreement {p.agreement:.2f} below {threshold:.2f} with {p.used} annotators"
            if needed < most and not p.review_only:
                add = min(policy.extra_per_round, most - needed)
                item.extra_slots += add
                item.state = ItemState.PENDING
                widened.append(item)
                decisions.append(
                    Decision(
                        p.item_id, Outcome.MORE_ANNOTATORS, p.method, p.agreement, p.used, f"{why}: +{add}"
                    )
                )
                continue
            reviews.append(
                Review(
                    item_id=p.item_id,
                    project=project,
                    reason=why,
                    proposed_label=p.label,
                    proposed_method=p.method,
                    proposed_agreement=p.agreement,
                    annotations_used=p.used,
                )  # fmt: skip
            )
            review_ids.append(p.item_id)
            decisions.append(Decision(p.item_id, Outcome.REVIEW, p.method, p.agreement, p.used, why))
        Result.objects.bulk_create(results)
        Review.objects.bulk_create(reviews)
        Item.objects.filter(pk__in=accepted_ids).update(state=ItemState.ACCEPTED)
        Item.objects.filter(pk__in=review_ids).update(state=ItemState.REVIEW)
        Item.objects.bulk_update(widened, ["extra_slots", "state"])
        if credit:
            _credit(project, consensus={a: (int(n), s) for a, (n, s) in credit.items()})
    return decisions


# --- annotator quality ----------------------------------------------------------------------------


def _quality_rows(project: DatasetProject, annotator_ids: Iterable[int]) -> dict[int, AnnotatorQuality]:
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


def _credit(
    project: DatasetProject,
    *,
    consensus: Mapping[int, tuple[int, float]] | None = None,
    review: Mapping[int, tuple[int, float]] | None = None,
) -> None:
    """Add agreement with accepted results / reviews to annotators' records."""
    consensus, review = consensus or {}, review or {}
    rows = _quality_rows(project, [*consensus, *review])
    for annotator_id, (n, total) in consensus.items():
        AnnotatorQuality.objects.filter(pk=rows[annotator_id].pk).update(
            consensus_answered=F("consensus_answered") + n,
            consensus_agreement_sum=F("consensus_agreement_sum") + total,
        )
    for annotator_id, (n, total) in review.items():
        AnnotatorQuality.objects.filter(pk=rows[annotator_id].pk).update(
            reviewed=F("reviewed") + n, review_agreement_sum=F("review_agreement_sum") + total
        )
    _scores_refresh(project, rows.keys())


def _scores_refresh(project: DatasetProject, annotator_ids: Iterable[int]) -> None:
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


def _gold_items_mark(project: DatasetProject, policy: QualityPolicy, items: Sequence[Item]) -> list[Decision]:
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


def _gold_refresh(project: DatasetProject, policy: QualityPolicy, annotator_ids: Iterable[int]) -> None:
    rows = _quality_rows(project, annotator_ids)  # locked first: counts below see every committed mark
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
    _scores_refresh(project, rows.keys())
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
        _pause(project, annotator_id, f"failed the {note}")
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
    _pause(
        project,
        annotator_id,
        f"gold accuracy {q.gold_correct}/{q.gold_answered} = {q.gold_correct / q.gold_answered:.0%} "
        f"(95% CI {q.gold_low:.0%}–{q.gold_high:.0%}) is below the project's {threshold:.0%}",
    )


def _pause(project: DatasetProject, annotator_id: int, reason: str) -> None:
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
    rows = _quality_rows(project, [annotator_id])
    AnnotatorQuality.objects.filter(pk=rows[annotator_id].pk).update(
        gold_grace_until=F("gold_answered") + policy.min_gold_to_pause
    )
    return standing


# --- method choice --------------------------------------------------------------------------------


def _gold_grown(project: DatasetProject, policy: QualityPolicy) -> tuple[bool, int]:
    """(whether gold answers grew enough since the last check, how many there are)."""
    gold_answers = counted_annotations(project=project, item__is_gold=True).count()
    last = policy.method_checked_gold
    grown = gold_answers >= max(last + RECHECK_MIN_NEW, math.ceil(last * RECHECK_GROWTH))
    return bool(gold_answers) and (policy.method_checked_at is None or grown), gold_answers


def method_recheck_due(*, project_id: int) -> bool:
    """Whether the sweep should enqueue a re-check now: a classification project
    whose gold answers have grown enough, and no re-check enqueued or attempted in
    the last RECHECK_RETRY_AFTER (one still queued or running, or one that failed
    or timed out). Cheap (a policy read and a count): the sweep asks every minute."""
    project = DatasetProject.objects.get(pk=project_id)
    if project.task_type != L.CLASSIFICATION:
        return False
    policy = policy_ensure(project=project)
    attempted = policy.method_recheck_attempted_at
    if attempted is not None and timezone.now() - attempted < RECHECK_RETRY_AFTER:
        return False
    return _gold_grown(project, policy)[0]


def method_recheck_attempted(*, project_id: int) -> None:
    """Record that a re-check was enqueued, started or failed just now."""
    now = timezone.now()
    if QualityPolicy.objects.filter(project_id=project_id).update(method_recheck_attempted_at=now):
        return
    project = DatasetProject.objects.filter(pk=project_id).first()
    if project is not None:  # no policy yet
        QualityPolicy.objects.filter(pk=policy_ensure(project=project).pk).update(
            method_recheck_attempted_at=now
        )


def project_method_recheck(*, project_id: int, force: bool = False) -> QualityPolicy:
    """Measure every classification method on the project's gold and record the
    most accurate, when gold answers have grown enough since the last check (or
    ``force``). A pinned method still wins; the measurement is kept for the admin.
    Slow (minutes): runs in its own task (workers.quality.recheck_quality_method)."""
    project = DatasetProject.objects.get(pk=project_id)
    policy = policy_ensure(project=project)
    if project.task_type != L.CLASSIFICATION:
        return policy
    due, gold_answers = _gold_grown(project, policy)
    if not gold_answers or not (force or due):
        return policy
    frame = _classification_rows(project, [], with_context=True)
    gold = _gold_labels(project, frame["task"].unique())
    runs = methods_run(frame, gold, overlap=project.overlap, methods=CANDIDATE_METHODS)
    scores = [r.score for r in runs]
    policy.chosen_method = method_choose(scores, min_gold=MIN_GOLD_PSEUDO_ITEMS * GOLD_CUTS)
    policy.method_scores = [
        {
            "method": s.method,
            "correct": s.correct,
            "total": s.total,
            "accuracy": round(s.accuracy, 4),
            "error": s.error,
        }
        for s in scores
    ]
    policy.method_checked_at = timezone.now()
    policy.method_checked_gold = gold_answers
    policy.save(update_fields=["chosen_method", "method_scores", "method_checked_at", "method_checked_gold"])
    logger.info("project %s: %s chosen on gold (%s)", project.pk, policy.chosen_method, policy.method_scores)
    return policy


# --- review ---------------------------------------------------------------------------------------


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
    answers = _answers([item.pk]).get(item.pk, [])
    if any(a.annotator_id == reviewer.pk for a in answers):
        raise ValidationError({"reviewer": "a reviewer does not review an item they annotated"})
    if outcome not in ReviewOutcome.values:
        raise ValidationError({"outcome": f"one of {ReviewOutcome.values}"})

    task_type = project.task_type
    final: Any = None
    if outcome == ReviewOutcome.ACCEPT:
        final = review.proposed_label
    elif outcome == ReviewOutcome.CORRECT:
        if label is None:
            raise ValidationError({"label": "a correction needs the corrected label"})
        if task_type in _COMPARABLE_TYPES:
            try:
                value = L.gold_comparable(task_type, label)
            except (ValueError, KeyError, TypeError) as exc:
                raise ValidationError({"label": f"cannot read the label: {exc}"}) from exc
            final = L.to_result(task_type, value, _names(project, answers))
        elif isinstance(label, list):
            final = label  # a type quality control does not compare: kept as Label Studio gave it
        else:
            raise ValidationError({"label": "give the label in Label Studio's result form"})

    review.reviewer = reviewer
    review.outcome = outcome
    review.label = final
    review.note = note
    review.decided_at = timezone.now()
    review.save(update_fields=["reviewer", "outcome", "label", "note", "decided_at"])

    agreement = None
    if final is not None and answers and task_type in _COMPARABLE_TYPES:
        reference = L.comparable(task_type, final)
        iou = float(policy_get(project=project).iou_threshold)
        per = {
            a.annotator_id: agreement_with(
                task_type, L.comparable(task_type, a.result), reference, iou_threshold=iou
            )
            for a in answers
        }
        agreement = sum(per.values()) / len(per)
        _credit(project, review={a: (1, s) for a, s in per.items()})
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
    Item.objects.filter(pk=item.pk).update(state=ItemState.ACCEPTED)
    return result
