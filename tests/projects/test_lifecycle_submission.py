"""Submission and reopening in projects/lifecycle.py (what labelling's ingestion calls):
conditional updates that move an assignment only from the state they expect."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from qianbiao.projects.lifecycle import assignments_reopen, assignments_submit
from qianbiao.projects.models import Assignment, AssignmentState, Item
from tests.factories import AnnotatorFactory, DatasetProjectFactory

pytestmark = pytest.mark.django_db


def _assignments(*states: str) -> list[Assignment]:
    """One assignment per state, each on its own item of one project."""
    project = DatasetProjectFactory(overlap=1)
    annotator = AnnotatorFactory()
    now = timezone.now()
    made = []
    for i, state in enumerate(states):
        item = Item.objects.create(project=project, external_id=f"x{i}", data={"text": str(i)})
        made.append(
            Assignment.objects.create(
                project=project,
                item=item,
                annotator=annotator,
                slot=0,
                state=state,
                assigned_at=now,
                expires_at=now + dt.timedelta(hours=1),
                submitted_at=now if state == AssignmentState.SUBMITTED else None,
            )
        )
    return made


def _states(rows: list[Assignment]) -> list[str]:
    return [Assignment.objects.get(pk=r.pk).state for r in rows]


def test_submit_moves_only_open_assignments_at_their_own_time():
    rows = _assignments(
        AssignmentState.OPEN,
        AssignmentState.OPEN,
        AssignmentState.EXPIRED,
        AssignmentState.REVOKED,
        AssignmentState.SUBMITTED,
    )
    before = {r.pk: r.submitted_at for r in rows}
    when = {r.pk: timezone.now() - dt.timedelta(minutes=i) for i, r in enumerate(rows)}
    order = [rows[1].pk, rows[0].pk, rows[2].pk, rows[3].pk, rows[4].pk]

    moved = assignments_submit(submitted_at={pk: when[pk] for pk in order})

    assert moved == [rows[1].pk, rows[0].pk]  # the open ones, in the order given
    assert _states(rows) == [AssignmentState.SUBMITTED] * 2 + [
        AssignmentState.EXPIRED,
        AssignmentState.REVOKED,
        AssignmentState.SUBMITTED,
    ]
    after = {r.pk: Assignment.objects.get(pk=r.pk).submitted_at for r in rows}
    assert after[rows[0].pk] == when[rows[0].pk] and after[rows[1].pk] == when[rows[1].pk]
    assert all(after[r.pk] == before[r.pk] for r in rows[2:])  # the refused ones untouched
    assert assignments_submit(submitted_at={pk: when[pk] for pk in order}) == []  # twice: nothing
    assert assignments_submit(submitted_at={}) == []


def test_reopen_moves_only_submitted_assignments_and_clears_their_time():
    rows = _assignments(
        AssignmentState.SUBMITTED,
        AssignmentState.OPEN,
        AssignmentState.EXPIRED,
        AssignmentState.REVOKED,
        AssignmentState.SUBMITTED,
    )

    moved = assignments_reopen(assignment_ids=[rows[4].pk, rows[1].pk, rows[2].pk, rows[3].pk, rows[0].pk])

    assert moved == sorted([rows[0].pk, rows[4].pk])
    assert _states(rows) == [
        AssignmentState.OPEN,
        AssignmentState.OPEN,
        AssignmentState.EXPIRED,
        AssignmentState.REVOKED,
        AssignmentState.OPEN,
    ]
    assert Assignment.objects.get(pk=rows[0].pk).submitted_at is None
    assert assignments_reopen(assignment_ids=[r.pk for r in rows]) == []  # twice: nothing
    assert assignments_reopen(assignment_ids=iter([])) == []
