"""Every state transition of assignments and items after distribution created them
(docs/ARCHITECTURE.md, "Who changes each state"); other apps call these functions:

- item decisions, called by quality: accepted, sent to review, widened;
- assignments that end without an annotation: expiry, leavers, quality pauses, and
  annotators no longer eligible for the project (see eligibility.py); freed slots go
  back to the pool: their items return to pending and the next distribution gives
  them to someone else;
- submission and reopening, called by labelling's ingestion.

Each is an UPDATE guarded by the state it expects (a conditional update, as
healthchecks claims work), checked by its rowcount, so running it twice changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from qianbiao.workforce.models import Annotator, AnnotatorStatus

from .distribution import items_refresh_state
from .eligibility import RULE_ACTIVE, RULE_NOT_PAUSED, annotators_unmet_rules, eligible_annotators
from .models import (
    AnnotatorStanding,
    Assignment,
    AssignmentState,
    DatasetProject,
    Item,
    ItemState,
    ProjectStatus,
)

# --- item decisions (called by quality) ---
# Quality control decides an item; the item's state moves here. Each move is one
# UPDATE guarded by the state it leaves and returns how many rows moved, so a
# caller sees a refusal. Quality calls these inside its own transaction, with the
# items locked (quality/decisions.py) or their open review locked (quality/review.py).

# An ordinary item before its decision: its slots being filled, or all live.
UNDECIDED_ITEM_STATES = (ItemState.PENDING, ItemState.ASSIGNED, ItemState.ANNOTATED)


def items_accept(*, item_ids: Collection[int]) -> int:
    """Undecided items whose consensus result was accepted become accepted."""
    if not item_ids:
        return 0
    undecided = Item.objects.filter(pk__in=list(item_ids), state__in=UNDECIDED_ITEM_STATES)
    return undecided.update(state=ItemState.ACCEPTED)


def items_send_to_review(*, item_ids: Collection[int]) -> int:
    """Undecided items whose consensus was too weak at the most annotators go to review."""
    if not item_ids:
        return 0
    undecided = Item.objects.filter(pk__in=list(item_ids), state__in=UNDECIDED_ITEM_STATES)
    return undecided.update(state=ItemState.REVIEW)


@transaction.atomic
def items_widen(*, extra_slots: Mapping[int, int]) -> int:
    """Undecided items get more annotators: ``extra_slots`` maps an item id to the
    slots it gains. They go back to pending and the distributor fills the new slots."""
    by_add: dict[int, list[int]] = defaultdict(list)
    for item_id, add in extra_slots.items():
        by_add[add].append(item_id)
    moved = 0
    for add, item_ids in sorted(by_add.items()):
        moved += Item.objects.filter(pk__in=sorted(item_ids), state__in=UNDECIDED_ITEM_STATES).update(
            extra_slots=F("extra_slots") + add, state=ItemState.PENDING
        )
    return moved


def item_accept_reviewed(*, item_id: int) -> bool:
    """An item in review whose review was decided becomes accepted."""
    return bool(Item.objects.filter(pk=item_id, state=ItemState.REVIEW).update(state=ItemState.ACCEPTED))


# --- assignments that end without an annotation ---


def _release(qs: QuerySet[Assignment], new_state: str, reason: str) -> dict[int, list[int]]:
    """Move open assignments in ``qs`` to ``new_state``; return freed item ids per project."""
    rows = list(qs.filter(state=AssignmentState.OPEN).values_list("pk", "project_id", "item_id"))
    if not rows:
        return {}
    Assignment.objects.filter(pk__in=[r[0] for r in rows], state=AssignmentState.OPEN).update(
        state=new_state, ended_at=timezone.now(), end_reason=reason[:200]
    )
    freed: dict[int, list[int]] = {}
    for _, project_id, item_id in rows:
        freed.setdefault(project_id, []).append(item_id)
    overlaps = dict(DatasetProject.objects.filter(pk__in=freed).values_list("pk", "overlap"))
    # Projects in id order, items in id order inside each: two releases running
    # at once lock items in the same order and cannot deadlock.
    for project_id, item_ids in sorted(freed.items()):
        items_refresh_state(item_ids=item_ids, overlap=overlaps[project_id], project_id=project_id)
    return freed


def _merge(into: dict[int, list[int]], freed: dict[int, list[int]]) -> dict[int, list[int]]:
    for project_id, item_ids in freed.items():
        into.setdefault(project_id, []).extend(item_ids)
    return into


@transaction.atomic
def assignments_expire(*, now=None, limit: int = 50_000) -> dict[int, list[int]]:
    """Expire open assignments past their time; returns freed items per project."""
    now = now or timezone.now()
    ids = list(
        Assignment.objects.filter(state=AssignmentState.OPEN, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    return _release(Assignment.objects.filter(pk__in=ids), AssignmentState.EXPIRED, "not submitted in time")


@transaction.atomic
def assignments_revoke_for_annotator(
    *, annotator_id: int, project_ids: Iterable[int] | None = None, reason: str = "revoked"
) -> dict[int, list[int]]:
    """Take back an annotator's open work (they left, or were paused)."""
    qs = Assignment.objects.filter(annotator_id=annotator_id)
    if project_ids is not None:
        qs = qs.filter(project_id__in=list(project_ids))
    return _release(qs, AssignmentState.REVOKED, reason)


def project_set_status(*, project: DatasetProject, status: str) -> DatasetProject:
    if status not in ProjectStatus.values:
        raise ValueError(f"unknown status {status!r}")
    project.status = status
    project.save(update_fields=["status"])
    return project


def project_set_priority(*, project: DatasetProject, priority: int) -> DatasetProject:
    project.priority = priority
    project.save(update_fields=["priority"])
    return project


_STATUS_REASON = {
    AnnotatorStatus.LEFT: "annotator left",
    AnnotatorStatus.SUSPENDED: "annotator suspended",
}


def _paused_here() -> Exists:
    return Exists(
        AnnotatorStanding.objects.filter(
            project_id=OuterRef("project_id"), annotator_id=OuterRef("annotator_id"), paused=True
        )
    )


def _revocation_reason(unmet: list[tuple[str, str]]) -> str:
    """Why the work goes, in the words the other revocations use when they apply."""
    facts = dict(unmet)
    for rule in (RULE_ACTIVE, RULE_NOT_PAUSED):
        if rule in facts:
            return facts[rule]  # "annotator left", "paused for quality in this project"
    return "no longer eligible: " + "; ".join(facts.values())


def _revoke_ineligible(
    *, project: DatasetProject, assignments: QuerySet[Assignment], limit: int | None = None
) -> dict[int, list[int]]:
    """Revoke the open assignments among ``assignments`` in ``project`` whose
    annotator is not eligible for the project now: an anti-join against
    ``eligible_annotators``, the very queryset the distributor picks from."""
    not_eligible = ~Exists(eligible_annotators(project=project).filter(pk=OuterRef("annotator_id")))
    held = assignments.filter(project=project, state=AssignmentState.OPEN).filter(not_eligible).order_by()
    rows = list(held.values_list("pk", "annotator_id")[:limit])
    if not rows:
        return {}
    unmet = annotators_unmet_rules(project=project, annotator_ids={a for _, a in rows})
    by_reason: dict[str, list[int]] = defaultdict(list)
    for pk, annotator_id in rows:
        if annotator_id in unmet:  # else eligible again since the first query
            by_reason[_revocation_reason(unmet[annotator_id])].append(pk)
    freed: dict[int, list[int]] = {}
    for reason, ids in sorted(by_reason.items()):
        # Guarded by eligibility as well as by state, as of this statement.
        _merge(
            freed,
            _release(
                Assignment.objects.filter(pk__in=ids).filter(not_eligible), AssignmentState.REVOKED, reason
            ),
        )
    return freed


@transaction.atomic
def annotator_open_work_withdraw(*, annotator_id: int, project_id: int | None = None) -> dict[int, list[int]]:
    """Take back what an annotator may no longer hold, judged from the database
    now (not from whatever message asked): all their open work if they are no
    longer active, else their open work in every project (or in ``project_id``)
    whose eligibility rules they no longer meet — paused there for quality,
    moved to a facility below its grade, a skill or language lowered or
    removed. Running it for an annotator in good standing changes nothing."""
    status = Annotator.objects.filter(pk=annotator_id).values_list("status", flat=True).first()
    if status is None:
        return {}
    qs = Assignment.objects.filter(annotator_id=annotator_id)
    if project_id is not None:
        qs = qs.filter(project_id=project_id)
    if status != AnnotatorStatus.ACTIVE:
        return _release(qs, AssignmentState.REVOKED, _STATUS_REASON.get(status, f"annotator {status}"))
    holding = Exists(qs.filter(project_id=OuterRef("pk"), state=AssignmentState.OPEN))
    freed: dict[int, list[int]] = {}
    # Projects in id order, as _release locks them.
    for project in DatasetProject.objects.filter(holding).order_by("pk"):
        _merge(freed, _revoke_ineligible(project=project, assignments=qs))
    return freed


@transaction.atomic
def assignments_revoke_inactive(*, limit: int = 50_000) -> dict[int, list[int]]:
    """Revoke open work of annotators who left or are suspended (set-based, for
    the sweep: catches any change of status the immediate reaction missed)."""
    freed: dict[int, list[int]] = {}
    for status, reason in _STATUS_REASON.items():
        ids = list(
            Assignment.objects.filter(state=AssignmentState.OPEN, annotator__status=status).values_list(
                "pk", flat=True
            )[:limit]
        )
        for project_id, item_ids in _release(
            Assignment.objects.filter(pk__in=ids), AssignmentState.REVOKED, reason
        ).items():
            freed.setdefault(project_id, []).extend(item_ids)
    return freed


@transaction.atomic
def assignments_revoke_paused(*, limit: int = 50_000) -> dict[int, list[int]]:
    """Revoke open work of annotators paused for quality, in the projects that paused them."""
    ids = list(
        Assignment.objects.filter(state=AssignmentState.OPEN)
        .filter(_paused_here())
        .values_list("pk", flat=True)[:limit]
    )
    return _release(
        Assignment.objects.filter(pk__in=ids), AssignmentState.REVOKED, "paused for quality in this project"
    )


@transaction.atomic
def assignments_revoke_ineligible(*, limit: int = 50_000) -> dict[int, list[int]]:
    """Revoke open work whose annotator no longer meets its project's
    eligibility rules (eligibility.py) — transferred to a facility below the
    project's grade, a skill or language lowered or removed, a project that
    raised its bar — judged from the database now. For the sweep: the safety
    net under the immediate withdrawal, one anti-join per project holding open
    work. Each row ends with the rules it fails, e.g. "no longer eligible:
    facility grade L2 < required L3"."""
    holding = Exists(Assignment.objects.filter(project_id=OuterRef("pk"), state=AssignmentState.OPEN))
    freed: dict[int, list[int]] = {}
    left = limit
    for project in DatasetProject.objects.filter(holding).order_by("pk"):
        released = _revoke_ineligible(project=project, assignments=Assignment.objects.all(), limit=left)
        _merge(freed, released)
        left -= sum(len(item_ids) for item_ids in released.values())
        if left <= 0:
            break
    return freed


# --- submission and reopening (called by labelling) ---


@transaction.atomic
def assignments_submit(*, submitted_at: dict[int, datetime]) -> list[int]:
    """Open assignments that got a counted annotation become submitted, each at its own
    time (assignment id -> when). Only from open: one expired, revoked or already
    submitted meanwhile stays as it is. Returns the ids that moved, in the given order."""
    moved = []
    for pk, when in submitted_at.items():
        if Assignment.objects.filter(pk=pk, state=AssignmentState.OPEN).update(
            state=AssignmentState.SUBMITTED, submitted_at=when
        ):
            moved.append(pk)
    return moved


@transaction.atomic
def assignments_reopen(*, assignment_ids: Iterable[int]) -> list[int]:
    """Submitted assignments whose counted annotation was deleted in Label Studio are
    open again (their task is back in the queue). Only from submitted. Returns the ids
    that moved, in id order (the order the rows are locked in)."""
    ids = list(
        Assignment.objects.select_for_update()
        .filter(pk__in=list(assignment_ids), state=AssignmentState.SUBMITTED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return []
    # Locked above, so the guarded UPDATE moves exactly these rows.
    Assignment.objects.filter(pk__in=ids, state=AssignmentState.SUBMITTED).update(
        state=AssignmentState.OPEN, submitted_at=None
    )
    return ids
