"""The thin tasks, the sweep and the immediate reactions, in-process.

Messages are captured at the one place they leave (workers.enqueue._send); the
tasks run in this process with ``apply()``. The real worker and Redis are
exercised in tests/integration/test_celery_distribution.py.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from qianbiao.programme.models import Grade
from qianbiao.projects.distribution import _project_lock, project_distribute, project_distribution_running
from qianbiao.projects.items import items_import
from qianbiao.projects.lifecycle import project_set_priority, project_set_status
from qianbiao.projects.maintenance import items_mismatched, project_has_room, projects_due_for_distribution
from qianbiao.projects.models import (
    AnnotatorStanding,
    Assignment,
    AssignmentState,
    DatasetProject,
    Item,
    ItemState,
    ProjectStatus,
)
from qianbiao.workforce.models import Annotator, AnnotatorStatus
from qianbiao.workforce.services import SkillSpec, annotator_leave
from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory
from workers import enqueue, tasks

pytestmark = pytest.mark.django_db

BBOX = (SkillSpec("bounding_box", 2),)


@pytest.fixture
def crew():
    facility = FacilityFactory(grade=Grade.L3)
    return [AnnotatorFactory(facility=facility, skills=BBOX) for _ in range(4)]


def _project(n_items=12, **kwargs):
    project = DatasetProjectFactory(**{"overlap": 2, "open_cap": 100, **kwargs})
    items_import(project=project, rows=[{"external_id": f"t{k}", "data": {"k": k}} for k in range(n_items)])
    return project


# --- immediate reactions -----------------------------------------------------


def test_a_leaver_or_a_pause_sends_a_withdrawal_after_commit(sent, crew, django_capture_on_commit_callbacks):
    project = _project()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        annotator_leave(annotator=crew[0], last_day=dt.date(2026, 3, 1))
    assert sent == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert sent == [(enqueue.WITHDRAW_ANNOTATOR_WORK, (crew[0].pk, None))]

    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        AnnotatorStanding.objects.create(project=project, annotator=crew[1], paused=True)
        AnnotatorStanding.objects.create(project=project, annotator=crew[2], paused=False)
        Annotator.objects.get(pk=crew[3].pk).save(update_fields=["name"])
    assert sent == [(enqueue.WITHDRAW_ANNOTATOR_WORK, (crew[1].pk, project.pk))]


def test_resuming_or_reprioritising_a_project_distributes_it_at_once(
    sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        project = _project()
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (project.pk,))]
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        project_set_status(project=project, status=ProjectStatus.PAUSED)
        project_set_priority(project=project, priority=5)  # paused: nothing to distribute
        project.name = "renamed"
        project.save(update_fields=["name"])
    assert sent == []
    with django_capture_on_commit_callbacks(execute=True):
        project_set_status(project=project, status=ProjectStatus.ACTIVE)
        project_set_priority(project=project, priority=9)
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (project.pk,))] * 2


def test_an_unreachable_broker_is_logged_not_raised(monkeypatch, caplog):
    from workers.app import app

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(app, "send_task", refuse)
    enqueue._send(enqueue.SWEEP)
    assert "the sweep will pick the work up" in caplog.text


# --- the tasks ---------------------------------------------------------------


def test_withdraw_task_rechecks_the_database_and_redistributes(run, sent, crew):
    project = _project(n_items=4)
    project_distribute(project_id=project.pk)
    leaver = crew[0]
    held = Assignment.objects.filter(annotator=leaver, state=AssignmentState.OPEN).count()
    assert held > 0

    # Still active: a stale or duplicated message changes nothing.
    assert run(tasks.withdraw_annotator_work, leaver.pk)["released"] == 0
    Annotator.objects.filter(pk=leaver.pk).update(status=AnnotatorStatus.SUSPENDED)
    result = run(tasks.withdraw_annotator_work, leaver.pk)

    assert result["released"] == held
    assert set(Assignment.objects.filter(annotator=leaver).values_list("state", "end_reason").distinct()) == {
        (AssignmentState.REVOKED, "annotator suspended")
    }
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (project.pk,))]
    run(tasks.distribute_project, project.pk)
    assert not Item.objects.filter(project=project, state=ItemState.PENDING).exists()
    assert not Assignment.objects.filter(annotator=leaver, state=AssignmentState.OPEN).exists()


def test_distribute_task_hands_over_to_a_new_message_when_out_of_time(run, sent, crew, settings):
    settings.QIANBIAO_DISTRIBUTION_BUDGET_S = 0
    settings.QIANBIAO_DISTRIBUTION_CHUNK_ITEMS = 5
    project = _project(n_items=12)
    first = run(tasks.distribute_project, project.pk)
    assert first["more_pending"] and first["items_considered"] == 5
    # The rest in a new message, and the new work to Label Studio at once (not at the
    # next sweep): each chunk is pushed as soon as it is committed.
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (project.pk,)), (enqueue.PUSH_ASSIGNMENTS, (project.pk,))]
    run(tasks.distribute_project, project.pk)
    run(tasks.distribute_project, project.pk)
    assert Assignment.objects.filter(project=project).count() == 24
    # Nothing new to push when a message finds no work to give.
    sent.clear()
    run(tasks.distribute_project, project.pk)
    assert sent == []
    assert run(tasks.distribute_project, 0) == {"project_id": 0, "skipped": "no such project"}


def test_the_sweep_rederives_all_work_from_the_database(run, sent, crew):
    project = _project(n_items=8)
    idle = _project(n_items=0)
    paused_project = _project(n_items=3, status=ProjectStatus.PAUSED)
    project_distribute(project_id=project.pk)
    # Changes that bypass save() and so every signal: only the sweep can see them.
    Annotator.objects.filter(pk=crew[0].pk).update(status=AnnotatorStatus.LEFT)
    AnnotatorStanding.objects.bulk_create(
        [AnnotatorStanding(project=project, annotator=crew[1], paused=True)]
    )
    overdue = Assignment.objects.filter(annotator=crew[2]).order_by("pk").first()
    Assignment.objects.filter(pk=overdue.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    report = run(tasks.sweep_task)

    assert report["revoked_inactive"] == Assignment.objects.filter(annotator=crew[0]).count() > 0
    assert report["revoked_paused"] == Assignment.objects.filter(annotator=crew[1]).count() > 0
    assert report["expired"] == 1
    assert report["projects_to_distribute"] == [project.pk]  # not the idle one, not the paused one
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (project.pk,))]
    reasons = dict(
        Assignment.objects.exclude(state=AssignmentState.OPEN).values_list("annotator_id", "end_reason")
    )
    assert reasons == {
        crew[0].pk: "annotator left",
        crew[1].pk: "paused for quality in this project",
        crew[2].pk: "not submitted in time",
    }
    # Only two annotators remain eligible for overlap 2, and one of them held
    # the expired item before: it cannot go back to them, so it stays pending.
    run(tasks.distribute_project, project.pk)
    assert Item.objects.filter(project=project, state=ItemState.PENDING).count() == 1
    assert idle.pk and paused_project.pk


def test_a_project_without_room_or_already_running_is_not_swept_in(crew):
    project = _project(n_items=10, open_cap=2)
    assert projects_due_for_distribution() == [project.pk]
    project_distribute(project_id=project.pk)  # 4 annotators x cap 2 = 8 slots of 20
    assert Item.objects.filter(project=project, state=ItemState.PENDING).exists()
    assert not project_has_room(project=project)
    assert projects_due_for_distribution() == []
    DatasetProject.objects.filter(pk=project.pk).update(open_cap=3)
    project.refresh_from_db()
    assert projects_due_for_distribution() == [project.pk]
    with _project_lock(project.pk) as acquired:
        assert acquired and project_distribution_running(project.pk)
        assert projects_due_for_distribution() == []
    assert not project_distribution_running(project.pk)


def test_projects_are_swept_in_by_priority(crew):
    low = _project(n_items=2, priority=1)
    high = _project(n_items=2, priority=7)
    mid = _project(n_items=2, priority=3)
    assert projects_due_for_distribution() == [high.pk, mid.pk, low.pk]


def test_reconcile_repairs_states_that_disagree_with_assignments(run, sent, crew):
    project = _project(n_items=6)
    project_distribute(project_id=project.pk)
    ids = list(Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    Item.objects.filter(pk=ids[0]).update(state=ItemState.PENDING)  # full, but marked pending
    Assignment.objects.filter(item_id=ids[1]).update(state=AssignmentState.REVOKED)  # empty, marked assigned
    assert items_mismatched(project=project) == ids[:2]

    result = run(tasks.reconcile_items)

    assert result == {"repaired": {str(project.pk): 2}}
    assert items_mismatched(project=project) == []
    assert Item.objects.get(pk=ids[0]).state == ItemState.ASSIGNED
    assert Item.objects.get(pk=ids[1]).state == ItemState.PENDING
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (project.pk,))]


def test_expire_task_frees_overdue_work_and_redistributes(run, sent, crew):
    project = _project(n_items=3, overlap=1)
    project_distribute(project_id=project.pk)
    Assignment.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    result = run(tasks.expire_assignments, batch=2)
    assert result == {"released": 3, "projects": [project.pk]}
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (project.pk,))]
    assert Item.objects.filter(project=project, state=ItemState.PENDING).count() == 3


def test_task_names_queues_and_delivery_settings():
    from workers.app import app

    route = app.amqp.router.route
    assert route({}, enqueue.DISTRIBUTE_PROJECT)["queue"].name == "distribution"
    for name in (
        enqueue.SWEEP,
        enqueue.EXPIRE_ASSIGNMENTS,
        enqueue.WITHDRAW_ANNOTATOR_WORK,
        enqueue.RECONCILE_ITEMS,
    ):
        assert route({}, name)["queue"].name == "maintenance"
        assert name in app.tasks
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_ignore_result
    task = app.tasks[enqueue.DISTRIBUTE_PROJECT]
    assert task.max_retries == 5 and task.soft_time_limit < task.time_limit
    assert app.conf.beat_schedule["sweep"]["task"] == enqueue.SWEEP
    assert connection.vendor == "postgresql"
