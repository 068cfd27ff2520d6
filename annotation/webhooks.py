"""Webhooks: registration with a secret header, and parsing a delivery into our own type.

Label Studio signs nothing; it sends back the custom headers registered with the webhook.
So a delivery is authentic when it carries our secret header, compared in constant time.
The payload's ``project`` object includes the project's token: :func:`parse_webhook` reads
what Qianbiao needs and keeps no reference to the payload. Never log or store the body.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

from annotation.annotations import annotation_from_dict
from annotation.client import LabelStudioClient
from annotation.errors import LabelStudioError, WebhookAuthError
from annotation.types import Webhook, WebhookEvent

SECRET_HEADER = "X-Qianbiao-Webhook-Secret"
ANNOTATION_ACTIONS = (
    "ANNOTATION_CREATED",
    "ANNOTATIONS_CREATED",
    "ANNOTATION_UPDATED",
    "ANNOTATIONS_DELETED",
)


def _webhook(raw: dict) -> Webhook:
    return Webhook(
        id=int(raw["id"]),
        project_id=raw.get("project"),
        url=raw.get("url") or "",
        actions=tuple(raw.get("actions") or ()),
        is_active=bool(raw.get("is_active", True)),
    )


def register_webhook(
    client: LabelStudioClient,
    url: str,
    secret: str,
    project_id: int | None = None,
    actions: Iterable[str] = ANNOTATION_ACTIONS,
    header: str = SECRET_HEADER,
) -> Webhook:
    """One webhook per (url, project): created, or brought up to date if already there.

    ``project_id=None`` registers for the whole organisation. Only annotation actions by
    default: TASKS_CREATED would post every imported task back to us.
    """
    if not secret:
        raise ValueError("a webhook needs a secret")
    body = {
        "url": url,
        "send_payload": True,
        "send_for_all_actions": False,
        "headers": {header: secret},
        "is_active": True,
        "actions": list(actions),
    }
    params = {"project": project_id} if project_id is not None else None
    for raw in client.get_json("/api/webhooks/", params=params):
        if raw.get("url") == url and raw.get("project") == project_id:
            return _webhook(client.request("PATCH", f"/api/webhooks/{raw['id']}/", json=body).json())
    if project_id is not None:
        body["project"] = project_id
    return _webhook(client.request("POST", "/api/webhooks/", json=body).json())


def list_webhooks(client: LabelStudioClient) -> list[Webhook]:
    return [_webhook(raw) for raw in client.get_json("/api/webhooks/")]


def delete_webhook(client: LabelStudioClient, webhook_id: int) -> None:
    client.request("DELETE", f"/api/webhooks/{webhook_id}/")


def check_secret(headers: Mapping[str, str], secret: str, header: str = SECRET_HEADER) -> None:
    """Raises :class:`WebhookAuthError` unless ``headers`` carry ``secret`` (case-insensitive name)."""
    wanted = header.lower()
    given = next((value for name, value in headers.items() if name.lower() == wanted), None)
    if not secret or given is None or not hmac.compare_digest(given.encode(), secret.encode()):
        raise WebhookAuthError("webhook delivery without our secret header", 403)


def parse_webhook(
    body: bytes | str | Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
    header: str = SECRET_HEADER,
) -> WebhookEvent:
    """A delivery as a :class:`WebhookEvent`. With ``secret``, checks the header first."""
    if secret is not None:
        check_secret(headers or {}, secret, header)
    try:
        payload = json.loads(body) if isinstance(body, (bytes, str)) else body
    except ValueError as error:
        raise LabelStudioError("webhook body is not JSON") from error
    if not isinstance(payload, Mapping) or not isinstance(payload.get("action"), str):
        raise LabelStudioError("webhook body has no action")
    return _event(payload)


def _event(payload: Mapping[str, Any]) -> WebhookEvent:
    action = payload["action"]
    project = payload.get("project")
    project_id = (
        int(project["id"]) if isinstance(project, Mapping) and project.get("id") is not None else None
    )

    annotations = []
    deleted: tuple[int, ...] = ()
    raw = payload.get("annotation")
    if isinstance(raw, Mapping):
        raw = [raw]
    if isinstance(raw, list):
        tasks = payload.get("task")
        tasks = [tasks] if isinstance(tasks, Mapping) else (tasks or [])
        data_by_task = {t.get("id"): t.get("data") or {} for t in tasks if isinstance(t, Mapping)}
        for item in raw:
            task_id = item.get("task")
            task_id = task_id.get("id") if isinstance(task_id, Mapping) else task_id
            annotations.append(
                annotation_from_dict(dict(item), task_data=data_by_task.get(task_id), project_id=project_id)
            )
    if action == "ANNOTATIONS_DELETED":
        deleted = tuple(int(a["id"]) for a in payload.get("annotations") or [] if isinstance(a, Mapping))
    task_ids: tuple[int, ...] = ()
    if action in ("TASKS_CREATED", "TASKS_DELETED"):
        task_ids = tuple(int(t["id"]) for t in payload.get("tasks") or [] if isinstance(t, Mapping))
    return WebhookEvent(
        action=action,
        project_id=project_id,
        annotations=tuple(annotations),
        deleted_annotation_ids=deleted,
        task_ids=task_ids,
    )
