"""Celery tasks of distribution and the assignment lifecycle: thin, by id, with
stable names (``workers.enqueue``).

Each task fetches by id and calls one domain service in qianbiao.projects; the
database is the source of truth and every service is idempotent, which is what
makes ``acks_late`` safe: a message delivered twice, or redelivered after a
worker died, changes nothing that is already done. Follow-up work goes through
``workers.enqueue`` (after commit), and nothing here depends on a message ever
arriving: the beat sweep re-derives all work from the database.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from django.conf import settings

from qianbiao.projects.distribution import project_distribute
from qianbiao.projects.lifecycle import annotator_open_work_withdraw, assignments_expire
from qianbiao.projects.maintenance import items_reconcile, sweep
from qianbiao.projects.models import DatasetProject
from workers import enqueue
from workers.app import IDEMPOTENT, RETRY, app


@app.task(name=enqueue.DISTRIBUTE_PROJECT, soft_time_limit=240, time_limit=300, **RETRY, **IDEMPOTENT)
def distribute_project(project_id: int) -> dict[str, Any]:
    """Distribute for at most the time budget, then hand over to a fresh message
    so that one big project never holds a worker process for long. New work is
    pushed to Label Studio at once, not at the next sweep."""
    try:
        outcome = project_distribute(
            project_id=project_id,
            chunk_items=settings.QIANBIAO_DISTRIBUTION_CHUNK_ITEMS,
            time_budget_s=settings.QIANBIAO_DISTRIBUTION_BUDGET_S,
        )
    except DatasetProject.DoesNotExist:
        return {"project_id": project_id, "skipped": "no such project"}
    if outcome.more_pending:
        enqueue.distribute_project(project_id)
    if outcome.assignments_created:
        enqueue.push_assignments(project_id)
    return asdict(outcome)


@app.task(name=enqueue.WITHDRAW_ANNOTATOR_WORK, soft_time_limit=240, time_limit=300, **RETRY, **IDEMPOTENT)
def withdraw_annotator_work(annotator_id: int, project_id: int | None = None) -> dict[str, Any]:
    """An annotator left, was suspended, was paused in a project, or changed
    facility, skills or languages: take back the open work they may no longer
    hold (the service re-checks each project's eligibility rules) and give it
    to others at once."""
    freed = annotator_open_work_withdraw(annotator_id=annotator_id, project_id=project_id)
    for freed_project_id in sorted(freed):
        enqueue.distribute_project(freed_project_id)
    return {"annotator_id": annotator_id, "released": sum(len(v) for v in freed.values())}


@app.task(name=enqueue.EXPIRE_ASSIGNMENTS, soft_time_limit=240, time_limit=300, **RETRY, **IDEMPOTENT)
def expire_assignments(batch: int = 50_000, budget_s: float = 120.0) -> dict[str, Any]:
    """Expire overdue assignments in batches (one transaction each) for at most
    ``budget_s``, continuing in a new message if more are due."""
    started = time.monotonic()
    released = 0
    projects: set[int] = set()
    while True:
        freed = assignments_expire(limit=batch)
        count = sum(len(v) for v in freed.values())
        released += count
        projects.update(freed)
        if count < batch:
            break
        if time.monotonic() - started > budget_s:
            enqueue.expire_assignments()
            break
    for project_id in sorted(projects):
        enqueue.distribute_project(project_id)
    return {"released": released, "projects": sorted(projects)}


@app.task(name=enqueue.SWEEP, soft_time_limit=240, time_limit=300, **RETRY, **IDEMPOTENT)
def sweep_task() -> dict[str, Any]:
    """Beat, every minute: re-derive from the database what is still to do."""
    report = sweep()
    # Highest priority first: on a FIFO queue that is the order they are served.
    for project_id in report.projects_to_distribute:
        enqueue.distribute_project(project_id)
    if report.backlog:
        enqueue.sweep()
    return asdict(report)


@app.task(name=enqueue.RECONCILE_ITEMS, soft_time_limit=540, time_limit=600, **RETRY, **IDEMPOTENT)
def reconcile_items() -> dict[str, Any]:
    """Beat, hourly: repair item states that disagree with their assignments."""
    repaired = items_reconcile()
    for project_id in sorted(repaired):
        enqueue.distribute_project(project_id)
    return {"repaired": {str(k): v for k, v in repaired.items()}}
