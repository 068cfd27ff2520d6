"""Annotations: create as a given user, list per task, and read back through the export endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from annotation.client import LabelStudioClient, sdk_errors
from annotation.types import ASSIGNMENT_KEY, LabelStudioAnnotation

EXPORT_CHUNK = 500  # task ids per export call (ids[] go in the query string)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _user_id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    return int(value) if value is not None else None


def annotation_from_dict(
    raw: dict, task_data: dict | None = None, task_id: int | None = None, project_id: int | None = None
) -> LabelStudioAnnotation:
    """Our LabelStudioAnnotation from Label Studio's JSON (API, export or webhook); keeps nothing else."""
    task = raw.get("task")
    if isinstance(task, dict):
        task = task.get("id")
    lead_time = raw.get("lead_time")
    return LabelStudioAnnotation(
        id=int(raw["id"]),
        task_id=int(task if task is not None else task_id),
        project_id=_user_id(raw.get("project")) if raw.get("project") is not None else project_id,
        completed_by=_user_id(raw.get("completed_by")),
        result=list(raw.get("result") or []),
        lead_time=float(lead_time) if lead_time is not None else None,
        was_cancelled=bool(raw.get("was_cancelled")),
        created_at=_time(raw.get("created_at")),
        updated_at=_time(raw.get("updated_at")),
        assignment_id=(task_data or {}).get(ASSIGNMENT_KEY),
        updated_by=_user_id(raw.get("updated_by")),
    )


def _from_sdk(obj: Any, project_id: int | None = None) -> LabelStudioAnnotation:
    return annotation_from_dict(obj.dict() if hasattr(obj, "dict") else dict(obj), project_id=project_id)


def create_annotation(
    client: LabelStudioClient,
    task_id: int,
    result: list[dict],
    lead_time: float | None = None,
    was_cancelled: bool = False,
    completed_by: int | None = None,
) -> LabelStudioAnnotation:
    """An annotation by the client's user (or, as an admin, naming ``completed_by``).

    Label Studio OSS lets anyone post with any ``completed_by``: Qianbiao checks on the way
    back that the annotator is the assignee.
    """
    kwargs: dict[str, Any] = {"id": task_id, "result": result, "was_cancelled": was_cancelled}
    if lead_time is not None:
        kwargs["lead_time"] = lead_time
    if completed_by is not None:
        kwargs["completed_by"] = completed_by
    with sdk_errors(f"annotate task {task_id}"):
        return _from_sdk(client.sdk.annotations.create(**kwargs))


def list_annotations(client: LabelStudioClient, task_id: int) -> list[LabelStudioAnnotation]:
    """The task's annotations, except skipped ones (Label Studio leaves those out; the export has them)."""
    with sdk_errors(f"annotations of task {task_id}"):
        return [_from_sdk(obj) for obj in client.sdk.annotations.list(id=task_id)]


def export_annotations(
    client: LabelStudioClient, project_id: int, task_ids: Iterable[int] | None = None
) -> Iterator[LabelStudioAnnotation]:
    """Every annotation of the project's annotated tasks, through ``/export?exportType=JSON``.

    With ``task_ids``, only those tasks, ``EXPORT_CHUNK`` per call: the way to reconcile at
    scale (export the tasks whose assignments are still open). Without, the whole project in
    one call: Label Studio builds that export in memory (about 770 MB RSS for 10k tasks).
    """
    if task_ids is None:
        yield from _export(client, project_id, [])
        return
    ids = list(dict.fromkeys(int(i) for i in task_ids))
    for start in range(0, len(ids), EXPORT_CHUNK):
        yield from _export(client, project_id, ids[start : start + EXPORT_CHUNK])


def _export(
    client: LabelStudioClient, project_id: int, ids: Sequence[int]
) -> Iterator[LabelStudioAnnotation]:
    # The SDK's ``ids=`` argument is ignored by the server; Label Studio reads ``ids[]``.
    params: list[tuple[str, Any]] = [("exportType", "JSON"), ("download_all_tasks", "false")]
    params += [("ids[]", task_id) for task_id in ids]
    response = client.request("GET", f"/api/projects/{project_id}/export", params=params, timeout=600)
    tasks = json.loads(response.content)
    for task in tasks:
        data = task.get("data") or {}
        for raw in task.get("annotations") or []:
            yield annotation_from_dict(raw, task_data=data, task_id=int(task["id"]), project_id=project_id)
