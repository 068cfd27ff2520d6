"""Bringing Label Studio and the database back in line: annotations made, edited or
deleted in Label Studio while the webhook or Qianbiao was down (read through the export
endpoint), and the tasks of assignments that ended here (withdrawn from Label Studio).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from annotation.annotations import export_annotations
from annotation.client import LabelStudioClient
from annotation.errors import LabelStudioNotFound
from annotation.tasks import delete_task
from qianbiao.labelling import selectors
from qianbiao.labelling.client import label_studio_admin
from qianbiao.labelling.ingest import IngestOutcome, annotations_delete, annotations_ingest
from qianbiao.labelling.models import Annotation
from qianbiao.projects.models import Assignment, AssignmentState

EXPORT_CHUNK = 500  # task ids per export call when reconciling
# Reconciliation re-reads submitted work this recent: edits and deletions in Label Studio
# happen soon after submission; older work is what quality control has already used.
RECENTLY_SUBMITTED = timedelta(hours=24)
DELETION_MARGIN = timedelta(seconds=60)


def _reconcile_tasks(client: LabelStudioClient, *, project_id: int, task_ids: list[int]) -> IngestOutcome:
    """Ingests the export of these tasks (new annotations, edits), and marks deleted what
    we hold for them that the export no longer has."""
    total = IngestOutcome()
    shards = selectors.project_shards(project_id=project_id)
    per_shard: dict[int, list[int]] = {}
    for task_id in task_ids:
        shard = selectors.shard_for_task(shards=shards, ls_task_id=task_id)
        if shard is not None:
            per_shard.setdefault(shard.ls_project_id, []).append(task_id)
    for ls_project_id, ids in per_shard.items():
        for start in range(0, len(ids), EXPORT_CHUNK):
            chunk = ids[start : start + EXPORT_CHUNK]
            # What had arrived a while before the export must be in it unless deleted
            # (the margin covers a webhook that beats Label Studio's own commit).
            settled = timezone.now() - DELETION_MARGIN
            exported = list(export_annotations(client, ls_project_id, chunk))
            part = annotations_ingest(ls_project_id=ls_project_id, annotations=exported, via="reconcile")
            gone = (
                Annotation.objects.filter(
                    ls_task_id__in=chunk, deleted_at__isnull=True, received_at__lt=settled
                )
                .exclude(ls_annotation_id__in=[a.id for a in exported])
                .values_list("ls_annotation_id", flat=True)
            )
            deleted = annotations_delete(ls_annotation_ids=list(gone))
            part.deleted, part.reopened = deleted.deleted, deleted.reopened
            total.add(part)
    return total


def project_reconcile_label_studio(
    *,
    project_id: int,
    client: LabelStudioClient | None = None,
    submitted_within: timedelta = RECENTLY_SUBMITTED,
) -> IngestOutcome:
    """Fetches, through the export endpoint (500 task ids per call), the annotations of
    every task whose assignment is still open here, and of those submitted within
    ``submitted_within``: whatever was made, edited or deleted in Label Studio while the
    webhook or Qianbiao was down arrives. Idempotent."""
    recent = timezone.now() - submitted_within
    task_ids = list(
        Assignment.objects.filter(project_id=project_id, ls_task_id__isnull=False)
        .filter(Q(state=AssignmentState.OPEN) | Q(state=AssignmentState.SUBMITTED, submitted_at__gte=recent))
        .order_by("ls_task_id")
        .values_list("ls_task_id", flat=True)
    )
    if not task_ids:
        return IngestOutcome()
    with contextlib.ExitStack() as stack:
        admin = client or stack.enter_context(label_studio_admin())
        return _reconcile_tasks(admin, project_id=project_id, task_ids=task_ids)


def assignments_withdraw_label_studio(*, limit: int = 1000, client: LabelStudioClient | None = None) -> int:
    """Expired and revoked assignments leave their annotator's queue: any annotation
    already made on the task is fetched first (and kept, flagged), then the task is
    deleted from Label Studio and ``ls_task_id`` cleared."""
    ended = list(
        selectors.assignments_ended_in_label_studio().values_list("id", "project_id", "ls_task_id")[:limit]
    )
    if not ended:
        return 0
    with contextlib.ExitStack() as stack:
        admin = client or stack.enter_context(label_studio_admin())
        by_project: dict[int, list[tuple[int, int]]] = {}
        for assignment_id, project_id, task_id in ended:
            by_project.setdefault(project_id, []).append((assignment_id, task_id))
        for project_id, pairs in by_project.items():
            _reconcile_tasks(admin, project_id=project_id, task_ids=[t for _, t in pairs])
            for assignment_id, task_id in pairs:
                with contextlib.suppress(LabelStudioNotFound):
                    delete_task(admin, task_id)
                Assignment.objects.filter(pk=assignment_id, ls_task_id=task_id).update(ls_task_id=None)
    return len(ended)
