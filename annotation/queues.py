"""Personal queues: one saved Data Manager view per annotator per project.

Label Studio OSS cannot assign a task to a user. Each task's data carries the annotator's
routing key (``data.route_to``); a view filtered on it is that annotator's queue, and
``GET /api/projects/{id}/next?view=<view id>`` hands out (and locks) the next task from it.
Views are visible to every member of a project, so the routing key should be opaque
(not a name or a phone number).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from annotation.client import LabelStudioClient
from annotation.errors import LabelStudioNotFound
from annotation.types import ROUTE_KEY, QueueView, Task

ROUTE_FILTER = f"filter:tasks:data.{ROUTE_KEY}"


def queue_filters(route_key: str) -> dict:
    """The Data Manager filter of one annotator's queue (a ``data.*`` column; ``meta.*`` gives 500s)."""
    return {
        "conjunction": "and",
        "items": [{"filter": ROUTE_FILTER, "operator": "equal", "type": "String", "value": str(route_key)}],
    }


def _route_of(view: dict) -> str | None:
    items = ((view.get("data") or {}).get("filters") or {}).get("items") or []
    if len(items) == 1 and items[0].get("filter") == ROUTE_FILTER and items[0].get("operator") == "equal":
        return str(items[0].get("value"))
    return None


def _queue(view: dict, project_id: int, route_key: str, created: bool) -> QueueView:
    title = (view.get("data") or {}).get("title") or ""
    return QueueView(
        id=int(view["id"]), project_id=project_id, route_key=route_key, title=title, created=created
    )


def list_queue_views(client: LabelStudioClient, project_id: int) -> dict[str, QueueView]:
    """The project's queue views by routing key (other views are ignored)."""
    views = client.get_json("/api/dm/views/", params={"project": project_id})
    found: dict[str, QueueView] = {}
    for view in sorted(views, key=lambda v: v["id"]):
        route = _route_of(view)
        if route is not None and route not in found:
            found[route] = _queue(view, project_id, route, created=False)
    return found


def ensure_queue_views(
    client: LabelStudioClient,
    project_id: int,
    route_keys: Iterable[str],
    title_prefix: str = "queue",
    titles: Mapping[str, str] | None = None,
) -> dict[str, QueueView]:
    """A queue view for each routing key, creating only the missing ones (one listing, one
    POST each). ``titles`` names them (routing key -> tab title, e.g. project and annotator
    code, so that an annotator knows their tab); a found view under another title is renamed."""
    titles = titles or {}
    existing = list_queue_views(client, project_id)
    result: dict[str, QueueView] = {}
    for key in dict.fromkeys(str(k) for k in route_keys):
        view = existing.get(key)
        title = titles.get(key) or f"{title_prefix} {key}"
        if view is None:
            body = {"project": project_id, "data": {"title": title, "filters": queue_filters(key)}}
            created = client.request("POST", "/api/dm/views/", json=body).json()
            view = existing[key] = _queue(created, project_id, key, created=True)
        elif key in titles and view.title != title:
            body = {"project": project_id, "data": {"title": title, "filters": queue_filters(key)}}
            client.request("PATCH", f"/api/dm/views/{view.id}/", json=body)
            view = existing[key] = QueueView(
                id=view.id, project_id=project_id, route_key=key, title=title, created=False
            )
        result[key] = view
    return result


def ensure_queue_view(client: LabelStudioClient, project_id: int, route_key: str) -> QueueView:
    return ensure_queue_views(client, project_id, [route_key])[str(route_key)]


def next_task(client: LabelStudioClient, project_id: int, view_id: int) -> Task | None:
    """The next task of a queue for the client's user (who must be the annotator themself:
    Label Studio locks the task to whoever asks). None when the queue is empty."""
    try:
        task = client.get_json(f"/api/projects/{project_id}/next", params={"view": view_id})
    except LabelStudioNotFound as error:
        # An empty queue is a JSON 404 "There are no tasks for …"; a project this user may
        # not see (or no longer may: a removed member) is an HTML 404, and raises.
        if isinstance(error.detail, (bytes, str)) and b"no tasks" in _bytes(error.detail):
            return None
        raise
    return Task(id=int(task["id"]), project_id=project_id, data=task.get("data") or {})


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
