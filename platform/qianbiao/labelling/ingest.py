"""Taking annotations back from Label Studio: webhook deliveries recorded and ingested,
annotations matched to their assignments (counted or kept flagged), deletions.

An assignment's state is the projects app's: a counted annotation submits it and the
deletion of one reopens it through ``qianbiao.projects.lifecycle``. Every function here
can run twice on the same input and changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from annotation.types import LabelStudioAnnotation as LSAnnotation
from annotation.types import WebhookEvent
from annotation.webhooks import ANNOTATION_ACTIONS
from qianbiao.labelling.models import Annotation, LabelStudioAccount, LabelStudioEvent, LabelStudioProject
from qianbiao.projects.lifecycle import assignments_reopen, assignments_submit
from qianbiao.projects.models import Assignment, AssignmentState
from workers import enqueue

logger = logging.getLogger(__name__)

_COUNTS = ("created", "updated", "flagged", "unknown", "submitted", "deleted", "reopened")


@dataclass
class IngestOutcome:
    created: int = 0
    updated: int = 0
    flagged: int = 0
    unknown: int = 0
    submitted: int = 0
    deleted: int = 0
    reopened: int = 0
    submitted_ids: list[int] = field(default_factory=list)

    def add(self, part: IngestOutcome) -> None:
        """Adds another outcome's counts (not its ids) to this one."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(part, name))


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass
class _Known:
    """What the database holds for one batch of annotations, read (and locked) once."""

    by_task: dict[int, Assignment]  # by our own recorded Label Studio task id
    existing: dict[int, Annotation]  # already recorded, by Label Studio annotation id
    users: dict[int, int]  # Label Studio user id -> our annotator id
    counted: set[int]  # assignments that already have a counted annotation


def _actor(ann: LSAnnotation) -> int | None:
    """The Label Studio user the server saw make the annotation's last change: its
    ``updated_by`` (set by the server from the session), else ``completed_by`` (which
    the lock-down in annotation/label_studio_site overwrites with the session's user)."""
    return ann.updated_by if ann.updated_by is not None else ann.completed_by


def _known_load(annotations: list[LSAnnotation], *, project_id: int | None) -> _Known:
    """Locks the assignments and recorded annotations the batch touches, in id order.

    The assignment is found from the task id *we* recorded when we pushed it, never
    from the task's data, which any Label Studio member could edit."""
    qs = Assignment.objects.select_for_update().order_by("id")
    if project_id is not None:
        qs = qs.filter(project_id=project_id)
    by_task = {a.ls_task_id: a for a in qs.filter(ls_task_id__in={a.task_id for a in annotations})}
    existing = {
        a.ls_annotation_id: a
        for a in Annotation.objects.select_for_update()
        .order_by("id")
        .filter(ls_annotation_id__in=[a.id for a in annotations])
    }
    people = {a.completed_by for a in annotations} | {a.updated_by for a in annotations}
    users = dict(
        LabelStudioAccount.objects.filter(ls_user_id__in=people - {None}).values_list(
            "ls_user_id", "annotator_id"
        )
    )
    counted = set(
        Annotation.objects.filter(
            assignment_id__in=[a.pk for a in by_task.values()], flagged=False, deleted_at__isnull=True
        ).values_list("assignment_id", flat=True)
    )
    return _Known(by_task=by_task, existing=existing, users=users, counted=counted)


def _flag_reason(ann: LSAnnotation, assignment: Assignment, annotator_id: int | None, known: _Known) -> str:
    """Why this new annotation does not count ("" when it does)."""
    if ann.completed_by is not None and ann.updated_by is not None and ann.completed_by != ann.updated_by:
        return "completed_by names someone other than the user who made it"
    if annotator_id is None:
        return "made by a Label Studio user who is not one of our annotators"
    if annotator_id != assignment.annotator_id:
        return "made by someone other than the assignee"
    if _as_int(ann.assignment_id) not in (None, assignment.pk):
        return "the task's data names another assignment"
    if ann.was_cancelled:
        return "skipped in Label Studio"
    if assignment.state not in (AssignmentState.OPEN, AssignmentState.SUBMITTED):
        return f"assignment {assignment.state} before the annotation arrived"
    if assignment.pk in known.counted:
        return "the assignment already has a counted annotation"
    return ""


def _update_refusal(row: Annotation, ann: LSAnnotation) -> str:
    """Why an update of an annotation we hold is not applied ("" when it is)."""
    if row.deleted_at is not None:
        return "deleted"
    if row.ls_updated_at is not None and ann.updated_at is not None and ann.updated_at <= row.ls_updated_at:
        return "not newer than what we hold"  # a replayed or out-of-order delivery
    actor = _actor(ann)
    if row.ls_user_id is not None and actor is not None and actor != row.ls_user_id:
        return "changed by someone other than its author"
    return ""


def _annotation_update(row: Annotation, ann: LSAnnotation, outcome: IngestOutcome) -> None:
    refusal = _update_refusal(row, ann)
    if refusal == "changed by someone other than its author":
        # The content stays what its author gave; the attempt is counted and logged.
        outcome.flagged += 1
        logger.warning("Label Studio annotation %s: update by user %s refused", ann.id, _actor(ann))
        return
    if refusal:
        return
    row.result, row.lead_time_s, row.ls_updated_at = ann.result, ann.lead_time, ann.updated_at
    row.was_cancelled = ann.was_cancelled
    row.save(update_fields=["result", "lead_time_s", "ls_updated_at", "was_cancelled"])
    outcome.updated += 1


def _annotation_create(
    ann: LSAnnotation, assignment: Assignment, *, annotator_id: int | None, reason: str, via: str
) -> Annotation:
    return Annotation.objects.create(
        ls_annotation_id=ann.id,
        ls_task_id=ann.task_id,
        assignment=assignment,
        project_id=assignment.project_id,
        item_id=assignment.item_id,
        annotator_id=annotator_id,
        ls_user_id=_actor(ann),
        result=ann.result,
        lead_time_s=ann.lead_time,
        was_cancelled=ann.was_cancelled,
        flagged=bool(reason),
        flag_reason=reason[:200],
        ls_created_at=ann.created_at,
        ls_updated_at=ann.updated_at,
        received_via=via,
    )


def _annotation_record(
    ann: LSAnnotation, known: _Known, outcome: IngestOutcome, *, via: str
) -> tuple[int, datetime] | None:
    """Records one annotation; returns (assignment id, when) if it submits an open one."""
    row = known.existing.get(ann.id)
    if row is not None:
        _annotation_update(row, ann, outcome)
        return None
    assignment = known.by_task.get(ann.task_id)
    if assignment is None:
        outcome.unknown += 1
        logger.warning("Label Studio annotation %s answers no assignment of ours", ann.id)
        return None
    annotator_id = known.users.get(_actor(ann))
    reason = _flag_reason(ann, assignment, annotator_id, known)
    # Remembered for a repeat of the same annotation later in the batch.
    known.existing[ann.id] = _annotation_create(
        ann, assignment, annotator_id=annotator_id, reason=reason, via=via
    )
    outcome.created += 1
    if reason:
        outcome.flagged += 1
        return None
    known.counted.add(assignment.pk)
    if assignment.state == AssignmentState.OPEN:
        return assignment.pk, ann.created_at or timezone.now()
    return None


def annotations_ingest(
    *, ls_project_id: int | None, annotations: Iterable[LSAnnotation], via: str = "webhook"
) -> IngestOutcome:
    """Records annotations from Label Studio against their assignments.

    The assignment is the one whose Label Studio task id we recorded at the push; the
    author is the user Label Studio's server saw (``_actor``). An annotation counts
    only when that user is the assignee's account, its task's data agrees, it was not
    skipped, the assignment is live and has no counted annotation yet; otherwise it is
    kept, flagged, with the reason. A counted one submits an open assignment. One
    already recorded (same Label Studio id) is updated in place only by a newer change
    of its own author (ANNOTATION_UPDATED, or a reconciliation): never duplicated, and
    a replayed or out-of-order delivery changes nothing.
    """
    outcome = IngestOutcome()
    annotations = list(annotations)
    if not annotations:
        return outcome
    shard = None
    if ls_project_id is not None:
        shard = LabelStudioProject.objects.filter(ls_project_id=ls_project_id).first()
        if shard is None:
            outcome.unknown = len(annotations)
            return outcome
    with transaction.atomic():
        known = _known_load(annotations, project_id=shard.project_id if shard is not None else None)
        to_submit: dict[int, datetime] = {}
        for ann in annotations:
            submits = _annotation_record(ann, known, outcome, via=via)
            if submits is not None:
                to_submit[submits[0]] = submits[1]
        outcome.submitted += len(assignments_submit(submitted_at=to_submit))
        # Quality control hears of these through beat's qianbiao.quality_sweep, which
        # decides ready items per project in one batch (consensus fits a whole project).
        outcome.submitted_ids = list(to_submit)
    return outcome


def annotations_delete(*, ls_annotation_ids: Iterable[int]) -> IngestOutcome:
    """Annotations deleted in Label Studio: kept here with ``deleted_at``; an assignment
    whose counted annotation went is open again (its task is back in the queue)."""
    outcome = IngestOutcome()
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Annotation.objects.select_for_update().filter(
                ls_annotation_id__in=list(ls_annotation_ids), deleted_at__isnull=True
            )
        )
        reopen = [r.assignment_id for r in rows if not r.flagged and r.assignment_id is not None]
        Annotation.objects.filter(pk__in=[r.pk for r in rows]).update(deleted_at=now)
        outcome.deleted = len(rows)
        outcome.reopened = len(assignments_reopen(assignment_ids=reopen))
    return outcome


def _annotation_json(ann: LSAnnotation) -> dict:
    data = asdict(ann)
    for key in ("created_at", "updated_at"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def _annotation_from_json(data: dict) -> LSAnnotation:
    data = dict(data)
    for key in ("created_at", "updated_at"):
        data[key] = datetime.fromisoformat(data[key]) if data.get(key) else None
    return LSAnnotation(**data)


def webhook_record(*, event: WebhookEvent) -> LabelStudioEvent | None:
    """Records a parsed delivery (nothing of the raw payload) and enqueues its ingestion."""
    if event.action not in ANNOTATION_ACTIONS:
        return None
    with transaction.atomic():
        row = LabelStudioEvent.objects.create(
            action=event.action,
            ls_project_id=event.project_id,
            annotations=[_annotation_json(a) for a in event.annotations],
            deleted_annotation_ids=list(event.deleted_annotation_ids),
        )
        enqueue.ingest_annotations([row.pk])
    return row


def events_ingest(*, event_ids: Iterable[int]) -> IngestOutcome:
    """Ingests recorded webhook deliveries not yet processed (a second run skips them)."""
    total = IngestOutcome()
    for event_id in event_ids:
        with transaction.atomic():
            event = (
                LabelStudioEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, processed_at__isnull=True)
                .first()
            )
            if event is None:
                continue
            if event.action == "ANNOTATIONS_DELETED":
                part = annotations_delete(ls_annotation_ids=event.deleted_annotation_ids)
            else:
                part = annotations_ingest(
                    ls_project_id=event.ls_project_id,
                    annotations=[_annotation_from_json(a) for a in event.annotations],
                    via="webhook",
                )
            event.processed_at = timezone.now()
            event.save(update_fields=["processed_at"])
        total.add(part)
    return total
