"""The sweep: re-derive from the database what work is still to do.

Messages can be lost (a worker killed with its message unacknowledged waits for
Redis's visibility timeout, or forever), so nothing depends on a message
arriving. Every minute the sweep looks at the database itself: open work held by
annotators who may no longer hold it (left, suspended, paused, or otherwise no
longer eligible for the project), overdue work, and active projects with
items short of their assignments — and says what to enqueue. It is idempotent:
a second sweep right after the first finds nothing more to do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Count

from .distribution import items_refresh_state, project_distribution_running
from .eligibility import eligible_annotators
from .lifecycle import (
    assignments_expire,
    assignments_revoke_inactive,
    assignments_revoke_ineligible,
    assignments_revoke_paused,
)
from .models import (
    LIVE_ASSIGNMENT_STATES,
    Assignment,
    AssignmentState,
    DatasetProject,
    Item,
    ItemState,
    ProjectStatus,
)

logger = logging.getLogger(__name__)

SWEEP_BATCH = 50_000


@dataclass(frozen=True)
class SweepReport:
    revoked_inactive: int
    revoked_paused: int
    revoked_ineligible: int  # any other rule of eligibility.py no longer met
    expired: int
    backlog: bool  # a batch limit was hit: more to release, sweep again soon
    projects_to_distribute: list[int] = field(default_factory=list)


def project_has_room(*, project: DatasetProject) -> bool:
    """Whether some eligible annotator is below the project's open-work cap.

    Deliberately cheap (it reads only the project's open assignments, which the
    caps bound, never the history): the daily quota is left to the distributor,
    so a project whose annotators are all at their quota costs at most one idle
    distribution per sweep until midnight."""
    at_cap = (
        Assignment.objects.filter(project=project, state=AssignmentState.OPEN)
        .values("annotator_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=project.open_cap)
        .values("annotator_id")
    )
    return eligible_annotators(project=project).exclude(pk__in=at_cap).exists()


def projects_due_for_distribution() -> list[int]:
    """Active projects, highest priority first, with pending ordinary items, an
    eligible annotator with room, and no distribution running now."""
    due = []
    for project in DatasetProject.objects.filter(status=ProjectStatus.ACTIVE).order_by("-priority", "pk"):
        if not Item.objects.filter(project=project, state=ItemState.PENDING, is_gold=False).exists():
            continue
        if project_distribution_running(project.pk):
            continue  # the running one re-enqueues itself while work is left
        if not project_has_room(project=project):
            continue
        due.append(project.pk)
    return due


def sweep(*, batch: int = SWEEP_BATCH) -> SweepReport:
    """Release what must be released, then list the projects to distribute.

    Each release is its own transaction, so a sweep killed half-way keeps what it did."""
    inactive = assignments_revoke_inactive(limit=batch)
    paused = assignments_revoke_paused(limit=batch)
    # After the two above, so that leavers and pauses keep their own counts.
    ineligible = assignments_revoke_ineligible(limit=batch)
    expired = assignments_expire(limit=batch)
    counts = [sum(len(v) for v in freed.values()) for freed in (inactive, paused, ineligible, expired)]
    report = SweepReport(
        revoked_inactive=counts[0],
        revoked_paused=counts[1],
        revoked_ineligible=counts[2],
        expired=counts[3],
        backlog=any(n >= batch for n in counts),
        projects_to_distribute=projects_due_for_distribution(),
    )
    if any(counts):
        logger.info("sweep released %s", report)
    return report


def items_mismatched(*, project: DatasetProject, limit: int = 100_000) -> list[int]:
    """Ordinary items whose cached state disagrees with their live assignments."""
    live = ", ".join(f"'{state.value}'" for state in LIVE_ASSIGNMENT_STATES)
    with connection.cursor() as cursor:
        # A correlated count per item, answered from the partial unique index on
        # live (item, slot): a plan that cannot go wrong with stale statistics,
        # where a join against a grouped subquery was once planned as a nested
        # loop re-aggregating the whole project for every item.
        cursor.execute(
            f"""
            SELECT i.id FROM {Item._meta.db_table} i
            WHERE i.project_id = %(p)s AND NOT i.is_gold AND i.state IN (%(pending)s, %(assigned)s)
              AND (i.state = %(assigned)s) <> (
                  (SELECT count(*) FROM {Assignment._meta.db_table} a
                   WHERE a.item_id = i.id AND a.slot IS NOT NULL AND a.state IN ({live}))
                  >= %(k)s + i.extra_slots)
            ORDER BY i.id LIMIT %(limit)s
            """,
            {
                "p": project.pk,
                "assigned": ItemState.ASSIGNED.value,
                "pending": ItemState.PENDING.value,
                "k": project.overlap,
                "limit": limit,
            },
        )
        return [row[0] for row in cursor.fetchall()]


def items_reconcile(*, project_ids: Sequence[int] | None = None, chunk: int = 10_000) -> dict[int, int]:
    """Repair cached item states from the assignments (the truth). The repair
    itself goes through ``items_refresh_state``, which locks and recounts, so a
    distribution running meanwhile cannot be overwritten with a stale count."""
    projects = DatasetProject.objects.filter(status__in=[ProjectStatus.ACTIVE, ProjectStatus.PAUSED])
    if project_ids is not None:
        projects = projects.filter(pk__in=project_ids)
    repaired = {}
    for project in projects:
        ids = items_mismatched(project=project)
        for start in range(0, len(ids), chunk):
            items_refresh_state(
                item_ids=ids[start : start + chunk], overlap=project.overlap, project_id=project.pk
            )
        if ids:
            logger.warning("project %s: repaired the state of %s items", project.pk, len(ids))
            repaired[project.pk] = len(ids)
    return repaired
