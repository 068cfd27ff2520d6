"""The one way to start background work: every task name and every ``enqueue_*``.

Each function schedules one message for after the current transaction commits
(at once outside a transaction), so a worker never looks for rows that are not
visible yet, and a rolled-back change enqueues nothing. Messages go by task name
(``send_task``), so callers import neither Celery tasks nor the modules the tasks
import; the task modules and beat's schedule take their names from here.

A failure to reach the broker is logged, never raised into the caller: its
change is already committed, and a sweep re-derives the work from the database
within a minute (docs/ARCHITECTURE.md, "Not losing work"). A lost message costs
minutes, never data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

# --- task names: stable, they are the wire format between web, beat and workers ---
# Distribution and the assignment lifecycle (workers/tasks.py).
DISTRIBUTE_PROJECT = "qianbiao.distribute_project"
WITHDRAW_ANNOTATOR_WORK = "qianbiao.withdraw_annotator_work"
EXPIRE_ASSIGNMENTS = "qianbiao.expire_assignments"
SWEEP = "qianbiao.sweep"
RECONCILE_ITEMS = "qianbiao.reconcile_items"
# Label Studio (workers/labelstudio.py).
PUSH_ASSIGNMENTS = "qianbiao.push_assignments"
ENSURE_QUEUES = "qianbiao.ensure_label_studio_queues"
INGEST_ANNOTATIONS = "qianbiao.ingest_annotations"
RECONCILE_LABEL_STUDIO = "qianbiao.reconcile_label_studio"
LABEL_STUDIO_SWEEP = "qianbiao.label_studio_sweep"
# Quality control (workers/quality.py).
QUALITY_SWEEP = "qianbiao.quality_sweep"
DECIDE_READY_ITEMS = "qianbiao.decide_ready_items"
RECHECK_QUALITY_METHOD = "qianbiao.recheck_quality_method"
# Enterprise callbacks (workers/callbacks.py).
CALLBACK_DELIVER = "qianbiao.callback_deliver"
CALLBACKS_SWEEP = "qianbiao.callbacks_sweep"
# Dashboards (workers/dashboards.py).
TAKE_DAILY_SNAPSHOTS = "qianbiao.take_daily_snapshots"

EVENT_CHUNK = 200  # webhook deliveries per ingest message: chunked, never one per event


def _send(name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
    from workers.app import app  # the configured app, also in a web process

    try:
        app.send_task(name, args=args, kwargs=kwargs or {})
    except Exception:  # the broker is down: a sweep re-derives this work later
        logger.exception("could not enqueue %s%r; the sweep will pick the work up", name, args)


def _after_commit(name: str, *args: Any, **kwargs: Any) -> None:
    transaction.on_commit(partial(_send, name, args, kwargs))


# --- distribution and lifecycle ---------------------------------------------------


def distribute_project(project_id: int) -> None:
    _after_commit(DISTRIBUTE_PROJECT, project_id)


def withdraw_annotator_work(annotator_id: int, project_id: int | None = None) -> None:
    """Take back open work the annotator may no longer hold (left, suspended,
    paused in ``project_id``, or no longer eligible for a project they hold
    work in); the worker re-checks the database first."""
    _after_commit(WITHDRAW_ANNOTATOR_WORK, annotator_id, project_id)


def expire_assignments() -> None:
    _after_commit(EXPIRE_ASSIGNMENTS)


def sweep() -> None:
    _after_commit(SWEEP)


# --- Label Studio -----------------------------------------------------------------


def push_assignments(project_id: int) -> None:
    """Send the project's unpushed open assignments to Label Studio."""
    _after_commit(PUSH_ASSIGNMENTS, project_id)


def ensure_label_studio_queues(project_id: int) -> None:
    _after_commit(ENSURE_QUEUES, project_id)


def ingest_annotations(event_ids: Iterable[int]) -> None:
    """Ingest recorded webhook deliveries, ``EVENT_CHUNK`` per message."""
    ids = list(event_ids)
    for start in range(0, len(ids), EVENT_CHUNK):
        _after_commit(INGEST_ANNOTATIONS, ids[start : start + EVENT_CHUNK])


def reconcile_label_studio(project_id: int) -> None:
    _after_commit(RECONCILE_LABEL_STUDIO, project_id)


# --- quality control --------------------------------------------------------------


def decide_ready_items(project_id: int) -> None:
    _after_commit(DECIDE_READY_ITEMS, project_id)


def recheck_quality_method(project_id: int) -> None:
    _after_commit(RECHECK_QUALITY_METHOD, project_id)


# --- enterprise callbacks ---------------------------------------------------------


def callback_deliver(delivery_ids: Iterable[int]) -> None:
    """One message per delivery: each is retried on its own schedule."""
    for delivery_id in delivery_ids:
        _after_commit(CALLBACK_DELIVER, delivery_id)
