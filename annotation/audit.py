"""A self-check of Label Studio's lock-down: every call an annotator must not make, made
with a throw-away annotator's own credentials, and whether it got through or changed
anything.

:func:`run_audit` builds a small scene through the admin (two projects; the annotator's
own queue and tasks; another annotator's queue, tasks and annotation), then makes each
probe as the annotator. A probe *got through* when it answered 2xx (or, for the few reads
the labelling stream does need, when the answer leaked someone else's objects); it
*changed* data when the admin's snapshot of the scene (tasks and their annotations, views,
webhooks, users, invite, organisation, storages, ML backends, exports, projects) differs
before and after. The scene is deleted at the end; the two annotators are kept for reuse.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from annotation.accounts import (
    invite_token,
    login_form,
    organization_id,
    provision_accounts,
    register_annotator,
)
from annotation.annotations import create_annotation
from annotation.client import LabelStudioClient, connect, http_client
from annotation.errors import LabelStudioError, LabelStudioNotFound
from annotation.label_configs import text_classification
from annotation.projects import create_project, delete_project
from annotation.queues import ensure_queue_view
from annotation.signing import route_key_for
from annotation.tasks import import_tasks
from annotation.types import AccountSpec

AUDIT_DOMAIN = "annotators.qianbiao.invalid"
ANY_STATUS = tuple(range(100, 600))
_RESULT = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["yes"]}}]


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    path: str
    body: Any = None
    params: dict | None = None
    # For calls the labelling stream makes: did the 2xx answer give away too much?
    leaked: Callable[[Any], bool] | None = field(default=None, compare=False)
    changes_own_work: bool = False  # an own-queue write: changing data is what it is for


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    status: int
    allowed: bool  # got through: a forbidden call succeeded (or a stream read leaked)
    changed: bool  # the admin's snapshot differs before and after
    what_changed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.allowed and not self.changed

    def line(self) -> str:
        verdict = "ok" if self.ok else "GOT THROUGH" if self.allowed else "CHANGED DATA"
        changed = f" changed={','.join(self.what_changed)}" if self.what_changed else ""
        call = f"{self.probe.method} {self.probe.path}"
        return f"{verdict:<12} {self.status} {call}  [{self.probe.name}]{changed}"


@dataclass(frozen=True)
class AuditReport:
    url: str
    annotator_id: int
    results: tuple[ProbeResult, ...]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def failures(self) -> tuple[ProbeResult, ...]:
        return tuple(result for result in self.results if not result.ok)


@dataclass(frozen=True)
class Scene:
    """The objects the probes aim at (ids in Label Studio)."""

    project: int
    other_project: int
    organization: int
    me: int
    other: int
    my_view: int
    other_view: int
    my_task: int
    other_task: int
    other_annotation: int
    webhook: int | None


def audit_password(secret: str) -> str:
    """The throw-away annotator's password: derived, so a later audit logs in again."""
    return hashlib.sha256(f"audit-password:{secret}".encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- scene


def _build_scene(admin: LabelStudioClient, me: int, other: int, secret: str) -> Scene:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    config = text_classification(["yes", "no"])
    project = create_project(admin, f"label_studio_audit {stamp}", config).id
    other_project = create_project(admin, f"label_studio_audit other {stamp}", config).id
    mine, theirs = route_key_for(me, secret), route_key_for(other, secret)
    my_task, _, other_task = import_tasks(
        admin, project,
        [{"text": "mine 1", "route_to": mine}, {"text": "mine 2", "route_to": mine},
         {"text": "theirs", "route_to": theirs}],
    )  # fmt: skip
    import_tasks(admin, other_project, [{"text": "elsewhere", "route_to": mine}])
    my_view = ensure_queue_view(admin, project, mine).id
    other_view = ensure_queue_view(admin, project, theirs).id
    other_annotation = create_annotation(admin, other_task, _RESULT, completed_by=other).id
    hooks = admin.get_json("/api/webhooks/")
    return Scene(
        project=project, other_project=other_project, organization=organization_id(admin), me=me,
        other=other, my_view=my_view, other_view=other_view, my_task=my_task, other_task=other_task,
        other_annotation=other_annotation, webhook=hooks[0]["id"] if hooks else None,
    )  # fmt: skip


def _ids(payload: Any) -> set:
    items = payload if isinstance(payload, list) else (payload or {}).get("results") or []
    return {item.get("id") for item in items if isinstance(item, dict)}


def probes(scene: Scene, webhook_url: str) -> list[Probe]:
    """Every forbidden call of the lock-down, and the reads the stream needs that must not
    leak. Destructive ones last, so a server without the lock-down still meets the rest."""
    s, p = scene, scene.project
    moved = {"text": "moved", "route_to": "elsewhere"}
    return [
        Probe("task list beyond the queue", "GET", "/api/tasks/", params={"project": p}),
        Probe("another annotator's queue list", "GET", "/api/tasks/",
              params={"project": p, "view": s.other_view}),
        Probe("another annotator's task", "GET", f"/api/tasks/{s.other_task}/"),
        Probe("another annotator's annotations", "GET", f"/api/tasks/{s.other_task}/annotations/"),
        Probe("another annotator's annotation", "GET", f"/api/annotations/{s.other_annotation}/"),
        Probe("another annotator's next task", "GET", f"/api/projects/{p}/next",
              params={"view": s.other_view}),
        Probe("another annotator's queue view", "GET", f"/api/dm/views/{s.other_view}/"),
        Probe("queue views beyond their own", "GET", "/api/dm/views/", params={"project": p},
              leaked=lambda views: s.other_view in _ids(views)),
        Probe("next task from another's tab", "POST", "/api/dm/actions/",
              params={"id": "next_task", "project": p, "tabID": s.other_view}, body={}),
        Probe("foreign completed_by", "POST", f"/api/tasks/{s.my_task}/annotations/",
              body={"result": _RESULT, "completed_by": s.other}, changes_own_work=True,
              leaked=lambda made: (made or {}).get("completed_by") != s.me),
        Probe("annotate another's task", "POST", f"/api/tasks/{s.other_task}/annotations/",
              body={"result": _RESULT}),
        Probe("update another's annotation", "PATCH", f"/api/annotations/{s.other_annotation}/",
              body={"result": _RESULT, "was_cancelled": True}),
        Probe("edit own task data", "PATCH", f"/api/tasks/{s.my_task}/", body={"data": moved}),
        Probe("edit another's task data", "PATCH", f"/api/tasks/{s.other_task}/", body={"data": moved}),
        Probe("create a task", "POST", "/api/tasks/", body={"project": p, "data": {"text": "new"}}),
        Probe("import tasks", "POST", f"/api/projects/{p}/import", body=[{"text": "imported"}]),
        Probe("export", "GET", f"/api/projects/{p}/export", params={"exportType": "JSON"}),
        Probe("export snapshot", "POST", f"/api/projects/{p}/exports/", body={}),
        Probe("project list", "GET", "/api/projects/"),
        Probe("another project", "GET", f"/api/projects/{s.other_project}/"),
        Probe("another project's tasks", "GET", f"/api/projects/{s.other_project}/tasks/"),
        Probe("create a project", "POST", "/api/projects/", body={"title": "made by an annotator"}),
        Probe("edit the project", "PATCH", f"/api/projects/{p}/", body={"title": "renamed by an annotator"}),
        Probe("edit own queue view", "PATCH", f"/api/dm/views/{s.my_view}/",
              body={"project": p, "data": {"title": "no filter"}}),
        Probe("create a view", "POST", "/api/dm/views/", body={"project": p, "data": {"title": "all"}}),
        Probe("data manager action", "POST", "/api/dm/actions/",
              params={"id": "delete_tasks", "project": p, "tabID": s.my_view}, body={}),
        Probe("users list", "GET", "/api/users/"),
        Probe("edit another user", "PATCH", f"/api/users/{s.other}/", body={"first_name": "edited"}),
        Probe("webhooks read", "GET", "/api/webhooks/"),
        Probe("webhook create", "POST", "/api/webhooks/", body={"url": webhook_url, "project": p}),
        Probe("webhook edit", "PATCH", f"/api/webhooks/{s.webhook or 1}/", body={"is_active": False}),
        Probe("invite link", "GET", "/api/invite"),
        Probe("invite reset", "POST", "/api/invite/reset-token", body={}),
        Probe("organisation read", "GET", f"/api/organizations/{s.organization}"),
        Probe("organisation edit", "PATCH", f"/api/organizations/{s.organization}", body={"title": "edited"}),
        Probe("organisation members", "GET", f"/api/organizations/{s.organization}/memberships"),
        Probe("storages", "GET", "/api/storages/", params={"project": p}),
        Probe("storage create", "POST", "/api/storages/localfiles/", body={"project": p, "path": "/tmp"}),
        Probe("ML backends of another project", "GET", "/api/ml/", params={"project": s.other_project}),
        Probe("ML backend create", "POST", "/api/ml/", body={"project": p, "url": "http://127.0.0.1:9"}),
        Probe("delete another's annotation", "DELETE", f"/api/annotations/{s.other_annotation}/"),
        Probe("delete a task", "DELETE", f"/api/tasks/{s.other_task}/"),
        Probe("delete another project", "DELETE", f"/api/projects/{s.other_project}/"),
    ]  # fmt: skip


# --------------------------------------------------------------------------- snapshot


def _quiet_get(admin: LabelStudioClient, path: str, **params: Any) -> Any:
    response = admin.request("GET", path, params=params or None, expect=ANY_STATUS)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text[:200]


def _tasks(admin: LabelStudioClient, project: int) -> Any:
    status, page = _quiet_get(admin, "/api/tasks/", project=project, fields="all", page_size=1000)
    tasks = page.get("tasks", []) if isinstance(page, dict) else page
    return status, sorted(
        (
            task["id"], json.dumps(task.get("data"), sort_keys=True),
            sorted((a["id"], a.get("completed_by"), json.dumps(a.get("result")), a.get("was_cancelled"))
                   for a in task.get("annotations") or []),
        )
        for task in tasks if isinstance(task, dict)
    )  # fmt: skip


def snapshot(admin: LabelStudioClient, scene: Scene) -> dict[str, str]:
    """What the probes could change, seen by the admin; each part hashed."""
    s = scene
    parts = {
        "tasks": _tasks(admin, s.project),
        "other project's tasks": _tasks(admin, s.other_project),
        "views": _quiet_get(admin, "/api/dm/views/", project=s.project),
        "projects": _quiet_get(admin, "/api/projects/", page_size=1000),
        "webhooks": _quiet_get(admin, "/api/webhooks/"),
        "users": _quiet_get(admin, "/api/users/"),
        "invite": _quiet_get(admin, "/api/invite"),
        "organisation": _quiet_get(admin, f"/api/organizations/{s.organization}"),
        "storages": _quiet_get(admin, "/api/storages/", project=s.project),
        "ml backends": _quiet_get(admin, "/api/ml/", project=s.project),
        "exports": _quiet_get(admin, f"/api/projects/{s.project}/exports/"),
    }
    # Only who the users are: their activity stamps change on every call they make.
    status, users = parts["users"]
    if isinstance(users, list):
        fields = ("id", "email", "username", "first_name", "last_name", "active_organization", "is_active")
        parts["users"] = (status, [[u.get(k) for k in fields] for u in users])
    return {name: hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
            for name, value in parts.items()}  # fmt: skip


# --------------------------------------------------------------------------- run


class SessionAgent:
    """An annotator's browser session (the login form's cookie), as the labelling UI
    calls Label Studio: CSRF token and Referer on every call."""

    def __init__(self, url: str, email: str, password: str) -> None:
        self.url = url.rstrip("/")
        self._http = http_client(self.url)
        login_form(self._http, self.url, email, password)

    def request(self, method: str, path: str, *, params=None, json=None, expect=ANY_STATUS, timeout=None):
        headers = {"X-CSRFToken": self._http.cookies.get("csrftoken", ""), "Referer": f"{self.url}/"}
        response = self._http.request(method, path, params=params, json=json, headers=headers,
                                      timeout=timeout or 60)  # fmt: skip
        if response.status_code not in expect:
            raise LabelStudioError(f"{method} {path}: HTTP {response.status_code}", response.status_code)
        return response

    def whoami(self):
        return self.request("GET", "/api/current-user/whoami", expect=(200,)).json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SessionAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _make(agent: LabelStudioClient, probe: Probe) -> tuple[int, Any]:
    try:
        response = agent.request(
            probe.method, probe.path, params=probe.params, json=probe.body, expect=ANY_STATUS, timeout=60
        )
    except LabelStudioError:
        return 0, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def run_probes(admin: LabelStudioClient, agent: LabelStudioClient, scene: Scene, webhook_url: str):
    results = []
    before = snapshot(admin, scene)
    for probe in probes(scene, webhook_url):
        status, payload = _make(agent, probe)
        after = snapshot(admin, scene)
        success = 200 <= status < 300
        allowed = success and (probe.leaked(payload) if probe.leaked else True)
        what = tuple(name for name in after if after[name] != before[name])
        changed = bool(what) and not (probe.changes_own_work and success and not allowed)
        results.append(ProbeResult(probe, status, allowed, changed, what if changed else ()))
        before = after
    return tuple(results)


def throwaway_annotators(admin: LabelStudioClient, secret: str):
    """The audit's annotator (own token, made or reused) and a second, silent one."""
    login = register_annotator(admin.url, invite_token(admin), f"label-studio-audit@{AUDIT_DOMAIN}",
                               audit_password(secret))  # fmt: skip
    (other,) = provision_accounts(admin, [AccountSpec(email=f"label-studio-audit-other@{AUDIT_DOMAIN}")])
    return login, other.id


@contextlib.contextmanager
def _scene(admin: LabelStudioClient, me: int, other: int, secret: str) -> Iterator[Scene]:
    scene = _build_scene(admin, me, other, secret)
    hooks_before = {hook["id"] for hook in admin.get_json("/api/webhooks/")}
    try:
        yield scene
    finally:
        for project in (scene.project, scene.other_project):
            with contextlib.suppress(LabelStudioNotFound):
                delete_project(admin, project)
        for hook in admin.get_json("/api/webhooks/"):
            if hook["id"] not in hooks_before:  # made by a probe that got through
                admin.request("DELETE", f"/api/webhooks/{hook['id']}/", expect=ANY_STATUS)


def run_audit(
    url: str, admin_token: str, secret: str, webhook_url: str, *, session: bool = True
) -> AuditReport:
    """Runs every probe as a throw-away annotator: with their browser session (what an
    annotator has after the hand-off), or with their own API token (``session=False``)."""
    with connect(url, admin_token) as admin:
        login, other = throwaway_annotators(admin, secret)
        agent = (
            SessionAgent(url, login.email, audit_password(secret)) if session else connect(url, login.token)
        )
        with agent, _scene(admin, login.user_id, other, secret) as scene:
            results = run_probes(admin, agent, scene, webhook_url)
    return AuditReport(url=url, annotator_id=login.user_id, results=results)
