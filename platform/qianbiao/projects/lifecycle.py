"""Assignments that end without an annotation: expiry, leavers, quality pauses.

Each is one set-based UPDATE guarded by the state it expects (a conditional
update, as healthchecks claims work), so running it twice changes nothing. Freed
slots go back to the pool: their items return to pending and the next
distribution gives them to someone else.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .distribution import items_refresh_state
from .models import Assignment, AssignmentState, DatasetProject, ProjectStatus


def _release(qs: QuerySet[Assignment], new_state: str) -> dict[int, list[int]]:
    """Move open assignments in ``qs`` to ``new_state``; return freed item ids per project."""
    rows = list(qs.filter(state=AssignmentState.OPEN).values_list("pk", "project_id", "item_id"))
    if not rows:
        return {}
    Assignment.objects.filter(pk__in=[r[0] for r in rows], state=AssignmentState.OPEN).update(state=new_state)
    freed: dict[int, list[int]] = {}
    for _, project_id, item_id in rows:
        freed.setdefault(project_id, []).append(item_id)
    overlaps = dict(DatasetProject.objects.filter(pk__in=freed).values_list("pk", "overlap"))
    for project_id, item_ids in freed.items():
        items_refresh_state(item_ids=item_ids, overlap=overlaps[project_id])
    return freed


@transaction.atomic
def assignments_expire(*, now=None, limit: int = 50_000) -> dict[int, list[int]]:
    """Expire open assignments past their time; returns freed items per project."""
    now = now or timezone.now()
    ids = list(
        Assignment.objects.filter(state=AssignmentState.OPEN, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    return _release(Assignment.objects.filter(pk__in=ids), AssignmentState.EXPIRED)


@transaction.atomic
def assignments_revoke_for_annotator(
    *, annotator_id: int, project_ids: Iterable[int] | None = None
) -> dict[int, list[int]]:
    """Take back an annotator's open work (they left, or were paused)."""
    qs = Assignment.objects.filter(annotator_id=annotator_id)
    if project_ids is not None:
        qs = qs.filter(project_id__in=list(project_ids))
    return _release(qs, AssignmentState.REVOKED)


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
