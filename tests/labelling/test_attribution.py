"""Attribution never trusts what a Label Studio member can set (issue 12, item 5).

The assignment an annotation answers is the one whose task id *we* recorded at the
push, and its author is the user Label Studio's server saw (``updated_by``), not the
``completed_by`` or ``data.assignment_id`` a client can write. Annotations are
built here as the adapter parses them; the same path runs against the real Label
Studio in tests/labelstudio/."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from annotation.types import LabelStudioAnnotation
from qianbiao.labelling.ingest import annotations_delete, annotations_ingest
from qianbiao.labelling.models import Annotation, LabelStudioAccount
from qianbiao.projects.models import AssignmentState
from tests.labelstudio.conftest import choice, make_work

pytestmark = pytest.mark.django_db

_ids = itertools.count(70_000)
T0 = timezone.now()


@pytest.fixture
def work():
    """Two annotators, two items each assigned to one of them, pushed as tasks 501 and 502."""
    project, people, made = make_work(annotators=2, items=2)
    for n, person in enumerate(people):
        LabelStudioAccount.objects.create(
            annotator=person, ls_user_id=900 + n, email=f"a{n}@ls.local", routing_key=f"route-{n}"
        )
    for n, assignment in enumerate(made):
        assignment.ls_task_id = 501 + n
        assignment.save(update_fields=["ls_task_id"])
    return made  # made[0] belongs to LS user 900, made[1] to LS user 901


def ann(task_id, *, by, completed_by=None, assignment_id=None, ann_id=None, updated_at=T0, label="正面"):
    return LabelStudioAnnotation(
        id=ann_id or next(_ids),
        task_id=task_id,
        project_id=None,
        completed_by=by if completed_by is None else completed_by,
        result=choice(label),
        lead_time=1.0,
        was_cancelled=False,
        created_at=T0,
        updated_at=updated_at,
        assignment_id=assignment_id,
        updated_by=by,
    )


def counted(assignment):
    return list(
        Annotation.objects.filter(assignment=assignment, flagged=False, deleted_at__isnull=True).values_list(
            "result", flat=True
        )
    )


def test_the_assignment_comes_from_our_task_id_not_the_task_data(work):
    mine, theirs = work
    # Task 501 is mine; its data was edited to point at the other annotator's assignment.
    outcome = annotations_ingest(ls_project_id=None, annotations=[ann(501, by=900, assignment_id=theirs.pk)])
    row = Annotation.objects.get()
    assert (row.assignment_id, row.flagged) == (mine.pk, True)
    assert row.flag_reason == "the task's data names another assignment"
    assert outcome.flagged == 1 and outcome.submitted == 0
    theirs.refresh_from_db()
    assert theirs.state == AssignmentState.OPEN and counted(theirs) == []


def test_a_foreign_completed_by_is_flagged_and_never_counts(work):
    mine, theirs = work
    # User 901 posts on my task, naming me as the author.
    annotations_ingest(ls_project_id=None, annotations=[ann(501, by=901, completed_by=900)])
    row = Annotation.objects.get()
    assert row.flagged and row.flag_reason == "completed_by names someone other than the user who made it"
    assert row.ls_user_id == 901  # the actor, as the server saw it
    mine.refresh_from_db()
    assert mine.state == AssignmentState.OPEN and counted(mine) == []


def test_an_annotation_on_someone_elses_task_is_flagged(work):
    mine, theirs = work
    annotations_ingest(ls_project_id=None, annotations=[ann(502, by=900)])
    row = Annotation.objects.get()
    assert row.flagged and row.flag_reason == "made by someone other than the assignee"
    theirs.refresh_from_db()
    assert theirs.state == AssignmentState.OPEN


def test_an_update_by_someone_else_changes_nothing_counted(work):
    mine, _ = work
    first = ann(501, by=900, label="正面")
    assert annotations_ingest(ls_project_id=None, annotations=[first]).submitted == 1
    forged = ann(501, by=901, ann_id=first.id, label="负面", updated_at=T0 + dt.timedelta(minutes=1))
    outcome = annotations_ingest(ls_project_id=None, annotations=[forged])
    assert outcome.flagged == 1 and outcome.updated == 0
    assert counted(mine) == [choice("正面")]


def test_replayed_and_out_of_order_updates_change_nothing_twice(work):
    mine, _ = work
    first = ann(501, by=900, label="正面")
    annotations_ingest(ls_project_id=None, annotations=[first])
    newer = ann(501, by=900, ann_id=first.id, label="负面", updated_at=T0 + dt.timedelta(minutes=2))
    older = ann(501, by=900, ann_id=first.id, label="正面", updated_at=T0 + dt.timedelta(minutes=1))
    assert annotations_ingest(ls_project_id=None, annotations=[newer]).updated == 1
    # The older edit arrives late, and the newer one is delivered again.
    assert annotations_ingest(ls_project_id=None, annotations=[older, newer]).updated == 0
    assert counted(mine) == [choice("负面")]
    assert Annotation.objects.count() == 1


def test_a_replayed_creation_after_a_deletion_does_not_bring_it_back(work):
    mine, _ = work
    first = ann(501, by=900)
    annotations_ingest(ls_project_id=None, annotations=[first])
    assert annotations_delete(ls_annotation_ids=[first.id]).reopened == 1
    again = annotations_ingest(ls_project_id=None, annotations=[first])
    assert (again.created, again.updated, again.submitted) == (0, 0, 0)
    mine.refresh_from_db()
    assert mine.state == AssignmentState.OPEN and counted(mine) == []


def test_the_same_annotation_twice_in_one_batch_is_recorded_once(work):
    mine, _ = work
    first = ann(501, by=900)
    outcome = annotations_ingest(ls_project_id=None, annotations=[first, first])
    assert (outcome.created, outcome.submitted) == (1, 1)
    assert Annotation.objects.count() == 1
