"""The database, not only the distributor, keeps an item's live assignments within
its project's overlap plus the item's extra slots (the trigger of projects 0004).

Raw SQL on purpose: the check must hold for any writer, the COPY path included."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from qianbiao.projects.models import Assignment, AssignmentState, Item
from tests.factories import AnnotatorFactory, DatasetProjectFactory

pytestmark = pytest.mark.django_db

INSERT = (
    f"INSERT INTO {Assignment._meta.db_table} (project_id, item_id, annotator_id, slot, is_gold, state,"
    " load_at_decision, assigned_at, expires_at, end_reason)"
    " VALUES (%s, %s, %s, %s, false, %s, 0, %s, %s, '') RETURNING id"
)


@pytest.fixture
def item():
    project = DatasetProjectFactory(overlap=3)
    return Item.objects.create(project=project, external_id="x", data={"image": "a.jpg"})


def _insert(item, slot, state=AssignmentState.OPEN, annotator=None):
    annotator = annotator or AnnotatorFactory()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT,
            [item.project_id, item.pk, annotator.pk, slot, state, now, now + dt.timedelta(hours=1)],
        )
        return cursor.fetchone()[0]


def _refused(call) -> str:
    # A savepoint, so the test's transaction survives the refused statement.
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        call()
    assert refused.value.__cause__.sqlstate == "23514"  # check_violation
    return str(refused.value)


def test_a_live_slot_at_the_overlap_is_refused_below_it_accepted(item):
    for slot in range(3):
        _insert(item, slot)
    message = _refused(lambda: _insert(item, 3))
    assert "not below its overlap plus extra slots (3)" in message
    assert Assignment.objects.filter(item=item).count() == 3
    _refused(lambda: _insert(item, 9, state=AssignmentState.SUBMITTED))


def test_an_extra_slot_makes_room_for_exactly_one_more(item):
    Item.objects.filter(pk=item.pk).update(extra_slots=1)
    _insert(item, 3)
    _refused(lambda: _insert(item, 4))


def test_an_ended_row_beyond_is_history_and_cannot_come_back_to_life(item):
    # An expired or revoked row keeps its slot as history; it no longer holds it.
    _insert(item, 7, state=AssignmentState.EXPIRED)
    assigned = Assignment.objects.get(item=item, slot=7)
    # Coming back to life beyond the overlap is refused like an insert.
    _refused(lambda: Assignment.objects.filter(pk=assigned.pk).update(state=AssignmentState.OPEN))
    _refused(lambda: Assignment.objects.filter(pk=assigned.pk).update(slot=5, state=AssignmentState.OPEN))


def test_moving_a_live_row_to_a_slot_beyond_is_refused(item):
    pk = _insert(item, 2)
    _refused(lambda: Assignment.objects.filter(pk=pk).update(slot=3))


def test_a_live_row_made_valid_stays_submittable_after_the_item_shrinks(item):
    # Submitting must never fail because extra slots were taken back after the row was made.
    Item.objects.filter(pk=item.pk).update(extra_slots=1)
    pk = _insert(item, 3)
    Item.objects.filter(pk=item.pk).update(extra_slots=0)
    assert Assignment.objects.filter(pk=pk).update(state=AssignmentState.SUBMITTED) == 1


def test_one_slot_too_many_refuses_the_whole_statement(item):
    # The distributor writes many rows per statement: the check covers each of them.
    annotators = [AnnotatorFactory() for _ in range(4)]
    rows = [
        Assignment(project_id=item.project_id, item=item, annotator=a, slot=slot,
                   assigned_at=timezone.now(), expires_at=timezone.now() + dt.timedelta(hours=1))
        for slot, a in enumerate(annotators)
    ]  # fmt: skip
    _refused(lambda: Assignment.objects.bulk_create(rows))
    assert not Assignment.objects.filter(item=item).exists()
    Assignment.objects.bulk_create(rows[:3])
    assert Assignment.objects.filter(item=item).count() == 3
