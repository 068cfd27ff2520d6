"""Celery tasks of the Label Studio backend: push, queues, ingest, reconcile, sweep.

Thin, by id, stable names (``workers.enqueue``); every service they call is
idempotent, so acks_late is safe and a lost message costs only minutes:
``qianbiao.label_studio_sweep`` (beat) re-derives all of this work from the database.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from qianbiao.labelling import selectors
from qianbiao.labelling.accounts import accounts_deactivate_leavers
from qianbiao.labelling.ingest import events_ingest
from qianbiao.labelling.push import assignments_push
from qianbiao.labelling.queues import queues_ensure_for_project
from qianbiao.labelling.reconcile import assignments_withdraw_label_studio, project_reconcile_label_studio
from workers import enqueue
from workers.app import IDEMPOTENT, RETRY, app

PUSH_LIMIT = 50_000  # assignments per message; the rest goes to a fresh message


@app.task(name=enqueue.PUSH_ASSIGNMENTS, soft_time_limit=480, time_limit=540, **RETRY, **IDEMPOTENT)
def push_assignments(project_id: int) -> dict[str, Any]:
    outcome = assignments_push(project_id=project_id, limit=PUSH_LIMIT)
    if outcome.more_pending:
        enqueue.push_assignments(project_id)
    if outcome.pushed:
        enqueue.ensure_label_studio_queues(project_id)
    return asdict(outcome)


@app.task(name=enqueue.ENSURE_QUEUES, soft_time_limit=240, time_limit=300, **RETRY, **IDEMPOTENT)
def ensure_label_studio_queues(project_id: int) -> int:
    """Queue views for annotators who got work in a shard, after the push that gave it
    (an annotator handed over before this runs gets theirs made on the spot)."""
    return queues_ensure_for_project(project_id=project_id)


@app.task(name=enqueue.INGEST_ANNOTATIONS, soft_time_limit=240, time_limit=300, **RETRY, **IDEMPOTENT)
def ingest_annotations(event_ids: list[int]) -> dict[str, Any]:
    outcome = asdict(events_ingest(event_ids=event_ids))
    outcome.pop("submitted_ids", None)
    return outcome


@app.task(name=enqueue.RECONCILE_LABEL_STUDIO, soft_time_limit=540, time_limit=600, **RETRY, **IDEMPOTENT)
def reconcile_label_studio(project_id: int | None = None) -> dict[str, Any]:
    """With no project (beat): fans out one message per project with open pushed work."""
    if project_id is None:
        projects = selectors.projects_with_open_pushed_assignments()
        for pid in projects:
            enqueue.reconcile_label_studio(pid)
        return {"projects": len(projects)}
    outcome = asdict(project_reconcile_label_studio(project_id=project_id))
    outcome.pop("submitted_ids", None)
    return outcome


@app.task(name=enqueue.LABEL_STUDIO_SWEEP, soft_time_limit=240, time_limit=300, **RETRY, **IDEMPOTENT)
def label_studio_sweep() -> dict[str, Any]:
    """Re-derives Label Studio work from the database: deactivate leavers, withdraw
    ended assignments' tasks, ingest deliveries whose message was lost, push every
    project with unpushed open assignments."""
    deactivated = accounts_deactivate_leavers()
    withdrawn = assignments_withdraw_label_studio()
    stale = selectors.events_unprocessed_stale()
    enqueue.ingest_annotations(stale)
    projects = selectors.projects_with_unpushed_assignments()
    for project_id in projects:
        enqueue.push_assignments(project_id)
    return {"deactivated": deactivated, "withdrawn": withdrawn, "events": len(stale), "push": len(projects)}
