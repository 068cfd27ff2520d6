"""Reads for the Label Studio side of the platform."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from qianbiao.labelling.models import LabelStudioAccount, LabelStudioEvent, LabelStudioProject
from qianbiao.projects.models import Assignment, AssignmentState
from qianbiao.workforce.models import AnnotatorStatus


def project_shards(*, project_id: int) -> list[LabelStudioProject]:
    return list(LabelStudioProject.objects.filter(project_id=project_id).order_by("shard"))


def shard_for_task(*, shards: list[LabelStudioProject], ls_task_id: int) -> LabelStudioProject | None:
    for shard in shards:
        if shard.min_ls_task_id is not None and shard.min_ls_task_id <= ls_task_id <= shard.max_ls_task_id:
            return shard
    return None


def assignments_unpushed(*, project_id: int) -> QuerySet[Assignment]:
    """Open assignments that have no Label Studio task yet, oldest first."""
    return Assignment.objects.filter(
        project_id=project_id, state=AssignmentState.OPEN, ls_task_id__isnull=True
    ).order_by("id")


def projects_with_unpushed_assignments() -> list[int]:
    return list(
        Assignment.objects.filter(state=AssignmentState.OPEN, ls_task_id__isnull=True)
        .values_list("project_id", flat=True)
        .distinct()
    )


def projects_with_open_pushed_assignments() -> list[int]:
    return list(
        Assignment.objects.filter(state=AssignmentState.OPEN, ls_task_id__isnull=False)
        .values_list("project_id", flat=True)
        .distinct()
    )


def assignments_ended_in_label_studio() -> QuerySet[Assignment]:
    """Expired or revoked assignments whose task is still in Label Studio."""
    return Assignment.objects.filter(
        state__in=(AssignmentState.EXPIRED, AssignmentState.REVOKED), ls_task_id__isnull=False
    ).order_by("id")


def accounts_of_leavers() -> QuerySet[LabelStudioAccount]:
    """Active Label Studio accounts whose annotator is no longer active."""
    return LabelStudioAccount.objects.filter(is_active=True).exclude(annotator__status=AnnotatorStatus.ACTIVE)


def annotators_needing_accounts(*, limit: int = 1000) -> list[int]:
    """Annotators with open work but no Label Studio account (accounts are made lazily)."""
    return list(
        Assignment.objects.filter(state=AssignmentState.OPEN, annotator__ls_account__isnull=True)
        .values_list("annotator_id", flat=True)
        .distinct()[:limit]
    )


def events_pending(*, limit: int = 1000) -> list[int]:
    return list(
        LabelStudioEvent.objects.filter(processed_at__isnull=True)
        .order_by("received_at")
        .values_list("id", flat=True)[:limit]
    )


def events_unprocessed_stale(*, older_than_s: int = 120, limit: int = 10_000) -> list[int]:
    """Recorded webhook deliveries still unprocessed after ``older_than_s``: their
    ingest message was lost (or is very late), so the sweep sends them again."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    return list(
        LabelStudioEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
