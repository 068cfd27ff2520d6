"""What the platform calls to start background work: the public face of workers.

Each function schedules one message for after the current transaction commits,
so a worker never looks for rows that are not visible yet, and a rolled-back
change enqueues nothing. Messages go by task name (``send_task``), so callers
import neither Celery tasks nor the modules the tasks import.

A failure to reach the broker is logged, never raised into the caller: its
change is already committed, and the sweep will find the work from the database
within a minute. A lost message costs minutes, never data.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

DISTRIBUTE_PROJECT = "qianbiao.distribute_project"
WITHDRAW_ANNOTATOR_WORK = "qianbiao.withdraw_annotator_work"
EXPIRE_ASSIGNMENTS = "qianbiao.expire_assignments"
SWEEP = "qianbiao.sweep"
RECONCILE_ITEMS = "qianbiao.reconcile_items"


def _send(name: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
    from workers.app import app  # the configured app, also in a web process

    try:
        app.send_task(name, args=args, kwargs=kwargs or {})
    except Exception:  # the broker is down: the sweep re-derives this work later
        logger.exception("could not enqueue %s%r; the sweep will pick the work up", name, args)


def _after_commit(name: str, *args: Any, **kwargs: Any) -> None:
    transaction.on_commit(partial(_send, name, args, kwargs))


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
