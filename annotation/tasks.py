"""Pushing assignments into Label Studio as tasks, in batches, without ever duplicating one.

Each assignment becomes one task whose ``data`` carries the item's fields plus
``assignment_id`` and ``route_to`` (see :class:`~annotation.types.TaskSpec`).

Duplicate safety: before importing a batch, :func:`push_tasks` asks Label Studio which of its
assignment ids already have a task (a Data Manager filter ``data.assignment_id`` *in list*)
and imports only the others. So a push that died after Label Studio committed the import but
before the caller recorded the task ids is simply run again: it finds the tasks and returns
their ids with ``created=False``. The lookup costs about what Label Studio spends serialising
the tasks it finds (a few ms each: seconds for a batch of 1,000 that is all there already), so
a caller that records "push started" before the call may pass ``check_existing=False`` for
assignments that were certainly never sent, and keep the check for retries.

Two pushes of the same assignment running *at the same time* can still both import it:
serialise pushes per project (one Celery task per project at a time, or a row lock).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from annotation.client import LabelStudioClient, sdk_errors
from annotation.errors import LabelStudioError
from annotation.types import ASSIGNMENT_KEY, PushedTask, Task, TaskSpec

ASSIGNMENT_FILTER = f"filter:tasks:data.{ASSIGNMENT_KEY}"
# Assignment ids per lookup: they travel in the query string, and 500 ids of four digits
# already passed gunicorn's default 4 KB request line (414). 200 of ten digits fit in it.
LOOKUP_CHUNK = 200
PAGE_SIZE = 1000


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _filter_query(items: list[dict]) -> str:
    return json.dumps({"filters": {"conjunction": "and", "items": items}})


def iter_tasks(
    client: LabelStudioClient, project_id: int, filters: list[dict] | None = None
) -> Iterator[Task]:
    """The project's tasks (id and data only), page by page, optionally through DM filter items."""
    # resolve_uri=false: no storage-link resolution per task (a third of the time of a page).
    params: dict[str, Any] = {
        "project": project_id,
        "fields": "task_only",
        "resolve_uri": "false",
        "page_size": PAGE_SIZE,
    }
    if filters:
        params["query"] = _filter_query(filters)
    page = 1
    while True:
        response = client.request("GET", "/api/tasks/", params={**params, "page": page}, expect=(200, 404))
        if response.status_code == 404:  # past the last page
            return
        tasks = response.json().get("tasks") or []
        for task in tasks:
            yield Task(id=int(task["id"]), project_id=project_id, data=task.get("data") or {})
        if len(tasks) < PAGE_SIZE:
            return
        page += 1


def find_tasks(client: LabelStudioClient, project_id: int, assignment_ids: Iterable[Any]) -> dict[Any, int]:
    """Assignment id -> task id for those of ``assignment_ids`` that already have a task.

    If Label Studio somehow holds two tasks for one assignment, the older (smaller id) wins.
    """
    wanted = list(dict.fromkeys(assignment_ids))
    found: dict[Any, int] = {}
    for chunk in _chunks(wanted, LOOKUP_CHUNK):
        item = {"filter": ASSIGNMENT_FILTER, "operator": "in_list", "type": "String", "value": list(chunk)}
        for task in iter_tasks(client, project_id, [item]):
            key = task.data.get(ASSIGNMENT_KEY)
            if key in found:
                found[key] = min(found[key], task.id)
            else:
                found[key] = task.id
    return found


def import_tasks(client: LabelStudioClient, project_id: int, data: Sequence[dict]) -> list[int]:
    """One import call; the new task ids in the order of ``data``. Not duplicate-safe on its own."""
    if not data:
        return []
    with sdk_errors(f"import {len(data)} tasks into project {project_id}"):
        response = client.sdk.projects.import_tasks(
            id=project_id, request=list(data), return_task_ids=True, request_options={"max_retries": 0}
        )
    task_ids = list(response.task_ids or [])
    if len(task_ids) != len(data):
        raise LabelStudioError(f"imported {len(data)} tasks but Label Studio returned {len(task_ids)} ids")
    return task_ids


def push_tasks(
    client: LabelStudioClient,
    project_id: int,
    specs: Iterable[TaskSpec],
    batch_size: int = 1000,
    check_existing: bool = True,
) -> list[PushedTask]:
    """Creates one task per assignment that has none yet; returns all of them in input order."""
    specs = list(specs)
    ids = [spec.assignment_id for spec in specs]
    if len(set(ids)) != len(ids):
        raise ValueError("an assignment id appears twice in one push")
    pushed: list[PushedTask] = []
    for batch in _chunks(specs, batch_size):
        existing = find_tasks(client, project_id, [s.assignment_id for s in batch]) if check_existing else {}
        missing = [spec for spec in batch if spec.assignment_id not in existing]
        new_ids = dict(
            zip(
                [spec.assignment_id for spec in missing],
                import_tasks(client, project_id, [spec.task_data() for spec in missing]),
                strict=True,
            )
        )
        for spec in batch:
            if spec.assignment_id in existing:
                pushed.append(PushedTask(spec.assignment_id, existing[spec.assignment_id], created=False))
            else:
                pushed.append(PushedTask(spec.assignment_id, new_ids[spec.assignment_id], created=True))
    return pushed


def delete_task(client: LabelStudioClient, task_id: int) -> None:
    """Withdraws one task (e.g. an assignment taken back from a leaver)."""
    with sdk_errors(f"delete task {task_id}"):
        client.sdk.tasks.delete(id=task_id)
