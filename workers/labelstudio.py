"""Celery tasks of the Label Studio backend: push, ingest, reconcile, sweep.

Thin, by id, stable names; every service they call is idempotent, so acks_late
is safe and a lost message costs only minutes: ``qianbiao.label_studio_sweep``
(beat) re-derives all of this work from the database.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from annotation.errors import LabelStudioError
from workers.app import app

logger = logging.getLogger(__name__)

PUSH_ASSIGNMENTS = "qianbiao.push_assignments"
INGEST_ANNOTATIONS = "qianbiao.ingest_annotations"
RECONCILE_LABEL_STUDIO = "qianbiao.reconcile_label_studio"
LABEL_STUDIO_SWEEP = "qianbiao.label_studio_sweep"
ENSURE_QUEUES = "qianbiao.ensure_label_studio_queues"
PUSH_LIMIT = 50_000  # assignments per message; the rest goes to a fresh message
EVENT_CHUNK = 200  # webhook deliveries per ingest message

# The database or Label Studio restarting raises these; bounded, exponential, jittered.
_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError, LabelStudioError),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
}


def _send(name: str, *args: Any) -> None:
    try:
        app.send_task(name, args=args)
    except Exception:  # broker down: the sweep finds the work in the database
        logger.exception("could not enqueue %s; the sweep will pick the work up", name)


def enqueue_push(project_id: int) -> None:
    transaction.on_commit(partial(_send, PUSH_ASSIGNMENTS, project_id))


def enqueue_ingest(event_ids: list[int]) -> None:
    transaction.on_commit(partial(_send, INGEST_ANNOTATIONS, list(event_ids)))


@app.task(name=PUSH_ASSIGNMENTS, soft_time_limit=480, time_limit=540, **_RETRY)
def push_assignments(project_id: int) -> dict[str, Any]:
    from qianbiao.labelling.services import assignments_push

    outcome = assignments_push(project_id=project_id, limit=PUSH_LIMIT)
    if outcome.more_pending:
        _send(PUSH_ASSIGNMENTS, project_id)
    if outcome.pushed:
        _send(ENSURE_QUEUES, project_id)
    return asdict(outcome)


@app.task(name=ENSURE_QUEUES, soft_time_limit=240, time_limit=300, **_RETRY)
def ensure_label_studio_queues(project_id: int) -> int:
    """Queue views for annotators who got work in a shard, after the push that gave it
    (an annotator handed over before this runs gets theirs made on the spot)."""
    from qianbiao.labelling.services import queues_ensure_for_project

    return queues_ensure_for_project(project_id=project_id)


@app.task(name=INGEST_ANNOTATIONS, soft_time_limit=240, time_limit=300, **_RETRY)
def ingest_annotations(event_ids: list[int]) -> dict[str, Any]:
    from qianbiao.labelling.services import events_ingest

    outcome = asdict(events_ingest(event_ids=event_ids))
    outcome.pop("submitted_ids", None)
    return outcome


@app.task(name=RECONCILE_LABEL_STUDIO, soft_time_limit=540, time_limit=600, **_RETRY)
def reconcile_label_studio(project_id: int | None = None) -> dict[str, Any]:
    """With no project: fans out one message per project with open pushed work."""
    from qianbiao.labelling import selectors
    from qianbiao.labelling.services import project_reconcile_label_studio

    if project_id is None:
        projects = selectors.projects_with_open_pushed_assignments()
        for pid in projects:
            _send(RECONCILE_LABEL_STUDIO, pid)
        return {"projects": len(projects)}
    outcome = asdict(project_reconcile_label_studio(project_id=project_id))
    outcome.pop("submitted_ids", None)
    return outcome


@app.task(name=LABEL_STUDIO_SWEEP, soft_time_limit=240, time_limit=300, **_RETRY)
def label_studio_sweep() -> dict[str, Any]:
    """Re-derives Label Studio work from the database: deactivate leavers, withdraw
    ended assignments' tasks, ingest deliveries whose message was lost, push every
    project with unpushed open assignments."""
    from qianbiao.labelling import selectors
    from qianbiao.labelling.models import LabelStudioEvent
    from qianbiao.labelling.services import accounts_deactivate_leavers, assignments_withdraw_label_studio

    deactivated = accounts_deactivate_leavers()
    withdrawn = assignments_withdraw_label_studio()
    stale = list(
        LabelStudioEvent.objects.filter(
            processed_at__isnull=True, received_at__lt=timezone.now() - timedelta(minutes=2)
        ).values_list("id", flat=True)[:10_000]
    )
    for start in range(0, len(stale), EVENT_CHUNK):
        _send(INGEST_ANNOTATIONS, stale[start : start + EVENT_CHUNK])
    projects = selectors.projects_with_unpushed_assignments()
    for project_id in projects:
        _send(PUSH_ASSIGNMENTS, project_id)
    return {"deactivated": deactivated, "withdrawn": withdrawn, "events": len(stale), "push": len(projects)}
