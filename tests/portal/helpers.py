"""Work for the portal's tests: a project with items and assignments."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from qianbiao.projects.models import Assignment, AssignmentState, Item
from tests.factories import DatasetProjectFactory


def give_work(annotator, *, project=None, n=2, prefix="item", hours=24, state=AssignmentState.OPEN):
    """``n`` open assignments for ``annotator`` (one slot each, on fresh items)."""
    project = project or DatasetProjectFactory(overlap=1, daily_quota=40)
    now = timezone.now()
    made = []
    for i in range(n):
        item = Item.objects.create(project=project, external_id=f"{prefix}-{i}", data={"image": "x.png"})
        made.append(
            Assignment.objects.create(
                project=project,
                item=item,
                annotator=annotator,
                slot=0,
                state=state,
                assigned_at=now,
                expires_at=now + dt.timedelta(hours=hours + i),
            )
        )
    return project, made
