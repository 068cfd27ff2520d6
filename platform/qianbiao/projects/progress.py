"""Progress of a project (selector)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from .models import Assignment, AssignmentState, DatasetProject, Item, ItemState


@dataclass(frozen=True)
class ProjectProgress:
    project_id: int
    items_total: int
    items_by_state: dict[str, int]
    gold_items: int
    assignments_by_state: dict[str, int]


def project_progress(*, project: DatasetProject) -> ProjectProgress:
    by_state = {state: 0 for state in ItemState.values}
    gold = 0
    for row in Item.objects.filter(project=project).values("state", "is_gold").annotate(n=Count("pk")):
        if row["is_gold"]:
            gold += row["n"]
        else:
            by_state[row["state"]] += row["n"]
    assignments = {state: 0 for state in AssignmentState.values}
    for row in Assignment.objects.filter(project=project).values("state").annotate(n=Count("pk")):
        assignments[row["state"]] = row["n"]
    return ProjectProgress(
        project_id=project.pk,
        items_total=sum(by_state.values()),
        items_by_state=by_state,
        gold_items=gold,
        assignments_by_state=assignments,
    )
