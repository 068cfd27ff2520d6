"""The distributor through a real Celery worker process on a real Redis and
PostgreSQL (bin/test starts both; this module skips without REDIS_URL).

Data is committed (``transactional_db``) so that the worker, a separate
process on the same test database, sees it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.utils import timezone

from qianbiao.programme.models import Grade
from qianbiao.projects.distribution import project_distribution_running
from qianbiao.projects.items import items_import
from qianbiao.projects.lifecycle import project_set_status
from qianbiao.projects.maintenance import items_mismatched
from qianbiao.projects.models import (
    LIVE_ASSIGNMENT_STATES,
    AnnotatorStanding,
    Assignment,
    AssignmentState,
    DistributionRun,
    Item,
    ItemState,
    ProjectStatus,
)
from qianbiao.workforce.models import Annotator, AnnotatorSkill, Employment
from qianbiao.workforce.services import SkillSpec, annotator_leave, annotator_prepare_personal_data
from seeds.identity import synthetic_id_card, synthetic_phone
from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory
from tests.integration.celery_harness import wait_until
from workers import enqueue

pytestmark = pytest.mark.integration

BBOX = (SkillSpec("bounding_box", 2),)


def _wait(predicate, workers, *, timeout, what):
    try:
        return wait_until(predicate, timeout=timeout, interval=0.1, what=what)
    except TimeoutError as exc:
        logs = "\n".join(f"--- {w.nodename}\n{w.log_tail()}" for w in workers)
        raise AssertionError(f"{exc}\n{logs}") from None


def _live(project):
    return Assignment.objects.filter(project=project, state__in=LIVE_ASSIGNMENT_STATES)


def _all_assigned(project):
    return not Item.objects.filter(project=project, is_gold=False, state=ItemState.PENDING).exists()


def _assert_overlap_exact(project, overlap):
    per_item = Counter(_live(project).values_list("item_id", flat=True))
    items = Item.objects.filter(project=project, is_gold=False).count()
    assert len(per_item) == items, "an item has no live assignment"
    assert set(per_item.values()) == {overlap}, Counter(per_item.values())
    pairs = Assignment.objects.filter(project=project).values_list("item_id", "annotator_id")
    assert len(set(pairs)) == len(pairs), "an item was given twice to one annotator"


# --- end to end --------------------------------------------------------------


def test_a_project_is_distributed_end_to_end_and_reacts_to_change(start_worker, broker):
    facility = FacilityFactory(grade=Grade.L3)
    crew = [AnnotatorFactory(facility=facility, skills=BBOX) for _ in range(6)]
    unskilled = AnnotatorFactory(facility=facility, skills=(SkillSpec("transcription", 3),))
    # Creating the project enqueues its distribution after commit; items come next.
    project = DatasetProjectFactory(overlap=2, open_cap=100)
    items_import(project=project, rows=[{"external_id": f"e{k}", "data": {"k": k}} for k in range(30)])
    # No beat: everything below happens by immediate reaction, not by the sweep.
    worker = start_worker("e2e")
    workers = [worker]

    _wait(lambda: _all_assigned(project), workers, timeout=30, what="the first distribution")
    _assert_overlap_exact(project, 2)
    loads = Counter(_live(project).values_list("annotator_id", flat=True))
    assert loads == {a.pk: 10 for a in crew} and unskilled.pk not in loads

    # An annotator leaves: their open work is revoked and given to others.
    leaver = crew[0]
    annotator_leave(annotator=leaver, last_day=dt.date(2026, 6, 30))
    _wait(
        lambda: not _live(project).filter(annotator=leaver).exists() and _all_assigned(project),
        workers,
        timeout=30,
        what="the leaver's work to be redistributed",
    )
    _assert_overlap_exact(project, 2)
    assert set(Assignment.objects.filter(annotator=leaver).values_list("state", "end_reason")) == {
        (AssignmentState.REVOKED, "annotator left")
    }

    # Paused, a project takes no work; resumed, it is distributed at once.
    project_set_status(project=project, status=ProjectStatus.PAUSED)
    items_import(project=project, rows=[{"external_id": f"late{k}", "data": {"k": k}} for k in range(5)])
    enqueue_time = timezone.now()
    broker.app.send_task(enqueue.DISTRIBUTE_PROJECT, args=(project.pk,))
    _wait(
        lambda: (
            DistributionRun.objects.filter(project=project, started_at__gte=enqueue_time).exists()
            or broker.redis.llen("distribution") == 0
        ),
        workers,
        timeout=10,
        what="the paused project's message to be consumed",
    )
    assert Item.objects.filter(project=project, state=ItemState.PENDING).count() == 5
    project_set_status(project=project, status=ProjectStatus.ACTIVE)
    _wait(lambda: _all_assigned(project), workers, timeout=30, what="distribution after resuming")

    # Paused for quality in this project: that annotator's work here goes to others.
    flagged = crew[1]
    AnnotatorStanding.objects.create(
        project=project, annotator=flagged, paused=True, paused_reason="gold 40%"
    )
    _wait(
        lambda: not _live(project).filter(annotator=flagged).exists() and _all_assigned(project),
        workers,
        timeout=30,
        what="the paused annotator's work to be redistributed",
    )

    # Overdue work expires through the expiry task and goes back to the pool.
    late = crew[2]
    overdue = list(_live(project).filter(annotator=late).values_list("pk", flat=True)[:3])
    Assignment.objects.filter(pk__in=overdue).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    broker.app.send_task(enqueue.EXPIRE_ASSIGNMENTS)
    _wait(
        lambda: (
            Assignment.objects.filter(pk__in=overdue, state=AssignmentState.EXPIRED).count() == 3
            and _all_assigned(project)
        ),
        workers,
        timeout=30,
        what="overdue work to expire and be reassigned",
    )
    _assert_overlap_exact(project, 2)
    active = [a.pk for a in crew[2:]]
    assert set(_live(project).values_list("annotator_id", flat=True)) <= set(active)
    assert items_mismatched(project=project) == []


# --- kill -9 in the middle of a large project --------------------------------

FAULT_ITEMS = 30_000
FAULT_OVERLAP = 3
FAULT_ANNOTATORS = 200  # 30,000 x 3 / 200 = 450 each, under a cap of 500
FAULT_CAP = 500


def _bulk_annotators(facility, n, *, start, skills):
    """Many valid annotators fast: the hiring service's checks, in bulk."""
    people = []
    for k in range(start, start + n):
        a = Annotator(
            code=f"F{k:06d}",
            name=f"故障测试{k}",
            employer=facility.operator,
            facility=facility,
            skill_level=5,
        )
        annotator_prepare_personal_data(
            a, id_card_number=synthetic_id_card(700_000 + k), phone=synthetic_phone(k)
        )
        people.append(a)
    Annotator.objects.bulk_create(people)
    AnnotatorSkill.objects.bulk_create(
        AnnotatorSkill(annotator=a, task_type=s.task_type, proficiency=s.proficiency)
        for a in people
        for s in skills
    )
    Employment.objects.bulk_create(
        Employment(annotator=a, employer=facility.operator, facility=facility, started_on=dt.date(2026, 1, 5))
        for a in people
    )
    return people


def test_kill_9_mid_distribution_then_restart_ends_with_exact_overlap(start_worker, broker):
    facility = FacilityFactory(grade=Grade.L3, seats=1000)
    crew = _bulk_annotators(facility, FAULT_ANNOTATORS, start=0, skills=BBOX)
    low = FacilityFactory(grade=Grade.L2, seats=100, physical_security=False)
    outsiders = _bulk_annotators(low, 20, start=FAULT_ANNOTATORS, skills=BBOX)  # facility grade too low
    project = DatasetProjectFactory(overlap=FAULT_OVERLAP, open_cap=FAULT_CAP, daily_quota=FAULT_CAP)
    items_import(
        project=project, rows=({"external_id": f"f{k}", "data": {"k": k}} for k in range(FAULT_ITEMS))
    )
    total = FAULT_ITEMS * FAULT_OVERLAP

    # One long task in small committed chunks, so the kill lands mid-task.
    first = start_worker(
        "doomed",
        env={"QIANBIAO_DISTRIBUTION_BUDGET_S": "600", "QIANBIAO_DISTRIBUTION_CHUNK_ITEMS": "1000"},
    )
    _wait(
        lambda: Assignment.objects.filter(project=project).count() >= total // 5,
        [first],
        timeout=60,
        what="distribution to be under way",
    )
    first.kill9()
    at_kill = Assignment.objects.filter(project=project).count()
    assert 0 < at_kill < total, at_kill
    # The message is stranded: unacknowledged, and Redis would return it only
    # after the visibility timeout (15 minutes). Nothing else is queued.
    assert broker.redis.hlen("unacked") == 1
    assert broker.redis.llen("distribution") == 0
    # PostgreSQL ends the dead worker's session, and its lock with it.
    _wait(lambda: not project_distribution_running(project.pk), [first], timeout=15, what="the lock to go")
    assert Item.objects.filter(project=project, state=ItemState.PENDING).exists()

    # A new worker with beat: the sweep re-derives the work from the database.
    second = start_worker(
        "rescuer",
        beat=True,
        env={"QIANBIAO_SWEEP_SECONDS": "1", "QIANBIAO_DISTRIBUTION_BUDGET_S": "2"},
    )
    _wait(
        lambda: _all_assigned(project) and not project_distribution_running(project.pk),
        [first, second],
        timeout=90,
        what="the sweep to finish the job",
    )

    rows = list(
        Assignment.objects.filter(project=project).values_list("item_id", "annotator_id", "state", "slot")
    )
    assert len(rows) == total, "lost or duplicated assignments"
    assert {r[2] for r in rows} == {AssignmentState.OPEN}
    _assert_overlap_exact(project, FAULT_OVERLAP)
    assert len({(r[0], r[3]) for r in rows}) == total  # one live assignment per slot
    loads = Counter(r[1] for r in rows)
    assert max(loads.values()) <= FAULT_CAP
    assert set(loads) == {a.pk for a in crew} and not set(loads) & {a.pk for a in outsiders}
    assert max(loads.values()) - min(loads.values()) <= 1  # still fair across the crash
    assert items_mismatched(project=project) == []
    runs = list(DistributionRun.objects.filter(project=project).order_by("pk"))
    assert runs[0].finished_at is None  # the run that died
    assert runs[-1].finished_at is not None
    assert sum(r.assignments_created for r in runs) == total
