"""The lock-down: a Label Studio user who is not a superuser (an annotator) may do what
labelling their own queue needs, and nothing else.

Label Studio OSS checks only "is logged in" (``core/permissions.py``) and puts every
member in one organisation, so without this any annotator can read, export, edit or
delete everyone's work, read the webhooks' secret headers and make accounts. This Django
middleware (appended to ``MIDDLEWARE`` by ``qianbiao_label_studio_wsgi``, so it runs after
the session and JWT middlewares) is an **allow-list**: each rule names a method and a path,
and checks that the objects in it are the annotator's own. Anything not listed answers
403 before any view runs, so nothing changes. The rules are what Label Studio's own
labelling stream was seen to call (driven as an annotator in headless Chromium).

"Own" is decided from the server's data, never from the request: an annotator's queue
view is a view whose only filter is ``data.route_to == route_key(user)``, their tasks are
the tasks whose ``data.route_to`` is that key, their annotations and drafts are theirs on
those tasks. Superusers (Qianbiao's service account, the admin) pass untouched; anonymous
requests pass too (Label Studio itself refuses them, except its login pages).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpResponse, JsonResponse
from qianbiao_signing import route_key

ROUTE_FILTER = "filter:tasks:data.route_to"
# What an annotation or draft body may carry; the rest (completed_by, ground_truth, task,
# project, updated_by, ...) is dropped, so the server sets the author itself.
ANNOTATION_FIELDS = frozenset(
    {"result", "was_cancelled", "lead_time", "draft_id", "parent_annotation", "parent_prediction",
     "started_at", "unique_id", "last_action"}
)  # fmt: skip
DRAFT_FIELDS = frozenset(
    {"result", "lead_time", "started_at", "was_postponed", "parent_annotation", "parent_prediction",
     "draft_id"}
)  # fmt: skip
# Project fields an annotator does not need (credentials of the task data, the creator).
HIDDEN_PROJECT_FIELDS = ("task_data_login", "task_data_password", "created_by")
STATIC_PREFIXES = ("/static/", "/label-studio-frontend/", "/dm/", "/react-app/")
STATIC_FILES = ("/favicon.ico", "/sw.js", "/api/version", "/version", "/health")


class Annotator:
    """The acting annotator, with the per-request lookups the rules need."""

    def __init__(self, user, secret: str) -> None:
        self.user = user
        self.key = route_key(user.id, secret)
        self._views: tuple | None = None  # (project id, its own view ids), asked once per request

    def own_views(self, project_id) -> set[int]:
        """The project's views filtered on this annotator's key and on nothing else
        (Label Studio keeps a view's filters in FilterGroup/Filter rows, not in its data)."""
        from data_manager.models import View
        from django.db.models import Count

        views = (
            View.objects.filter(project_id=_int(project_id))
            .annotate(filter_count=Count("filter_group__filters"))
            .filter(
                filter_count=1,
                filter_group__filters__column=ROUTE_FILTER,
                filter_group__filters__operator="equal",
                filter_group__filters__value=self.key,
            )
        )
        if self._views is None or self._views[0] != project_id:
            self._views = (project_id, set(views.values_list("id", flat=True)))
        return self._views[1]

    def owns_project(self, project_id) -> bool:
        return bool(self.own_views(project_id))

    def owns_view(self, project_id, view_id) -> bool:
        return _int(view_id) in self.own_views(project_id)

    def owns_task(self, task_id) -> bool:
        from tasks.models import Task

        return Task.objects.filter(pk=_int(task_id), data__route_to=self.key).exists()

    def owns_annotation(self, annotation_id) -> bool:
        from tasks.models import Annotation

        found = Annotation.objects.filter(pk=_int(annotation_id), completed_by_id=self.user.id)
        return found.filter(task__data__route_to=self.key).exists()

    def owns_draft(self, draft_id) -> bool:
        from tasks.models import AnnotationDraft

        found = AnnotationDraft.objects.filter(pk=_int(draft_id), user_id=self.user.id)
        return found.filter(task__data__route_to=self.key).exists()


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


@dataclass
class Allow:
    """Let the request through, then optionally rewrite the (JSON) response."""

    response_filter: Callable[[object], object] | None = None


@dataclass
class Answer:
    """Answer this instead of running the view: reads the labelling UI makes but fails
    without (it stops at a 403), answered with nothing of anyone else's."""

    payload: object


DENY = None
PASS = Allow()  # not an annotator: untouched


def _sanitise_body(request, fields: frozenset[str]) -> bool:
    """Keeps only ``fields`` of a JSON object body (DRF re-reads ``request.body``).
    False when the body is not a JSON object: refused rather than guessed at."""
    if request.method not in {"POST", "PUT", "PATCH"}:
        return True
    if not (request.content_type or "").startswith("application/json"):
        return False
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    cleaned = json.dumps({k: v for k, v in body.items() if k in fields}).encode()
    request._body = cleaned
    request.META["CONTENT_LENGTH"] = str(len(cleaned))
    return True


def _hide_project_fields(payload):
    if isinstance(payload, dict):
        for name in HIDDEN_PROJECT_FIELDS:
            payload.pop(name, None)
    return payload


# --------------------------------------------------------------------------- rules
# Each rule: (methods, path regex without trailing slash, check(request, me, match)).


def _project(request, me, m):
    return Allow(_hide_project_fields) if me.owns_project(m["pid"]) else DENY


def _project_page(request, me, m):
    return Allow() if me.owns_project(m["pid"]) else DENY


def _next(request, me, m):
    return Allow() if me.owns_view(m["pid"], request.GET.get("view")) else DENY


def _project_query(request, me, m):
    return Allow() if me.owns_project(request.GET.get("project")) else DENY


def _dm_project(request, me, m):
    return Allow(_hide_project_fields) if me.owns_project(request.GET.get("project")) else DENY


def _views(request, me, m):
    project = request.GET.get("project")
    own = me.own_views(project)
    if not own:
        return DENY
    return Allow(lambda views: [v for v in views if isinstance(v, dict) and v.get("id") in own])


def _view(request, me, m):
    from data_manager.models import View

    project_id = View.objects.filter(pk=_int(m["vid"])).values_list("project_id", flat=True).first()
    return Allow() if project_id is not None and me.owns_view(project_id, m["vid"]) else DENY


def _task_list(request, me, m):
    # Only the annotator's own view: with ?view= Label Studio takes the filters from the
    # saved view, never from the query or the body.
    return Allow() if me.owns_view(request.GET.get("project"), request.GET.get("view")) else DENY


def _dm_action(request, me, m):
    # The labelling stream asks for its next task here, with the filters in the body.
    # Only that action, only from the annotator's own tab, whose saved filters are forced
    # (``view`` in the query makes Label Studio ignore the body's filters).
    tab = request.GET.get("tabID")
    if request.GET.get("id") != "next_task" or not me.owns_view(request.GET.get("project"), tab):
        return DENY
    query = request.GET.copy()
    query["view"] = str(_int(tab))
    request.GET = query
    return Allow()


def _task(request, me, m):
    return Allow() if me.owns_task(m["tid"]) else DENY


def _task_annotations(request, me, m):
    if not me.owns_task(m["tid"]) or not _sanitise_body(request, ANNOTATION_FIELDS):
        return DENY
    return Allow()


def _task_drafts(request, me, m):
    if not me.owns_task(m["tid"]) or not _sanitise_body(request, DRAFT_FIELDS):
        return DENY
    return Allow()


def _annotation_drafts(request, me, m):
    if not (me.owns_task(m["tid"]) and me.owns_annotation(m["aid"])):
        return DENY
    return Allow() if _sanitise_body(request, DRAFT_FIELDS) else DENY


def _annotation(request, me, m):
    if not me.owns_annotation(m["aid"]) or not _sanitise_body(request, ANNOTATION_FIELDS):
        return DENY
    return Allow()


def _draft(request, me, m):
    if not me.owns_draft(m["did"]) or not _sanitise_body(request, DRAFT_FIELDS):
        return DENY
    return Allow()


def _always(request, me, m):
    return Allow()


def _nothing(request, me, m):
    # The stream lists the project's ML backends and members; an annotator sees none.
    return Answer([]) if me.owns_project(request.GET.get("project")) else DENY


_READ = frozenset({"GET", "HEAD"})
_RULES = [
    # Pages: logging in and out, and the labelling stream of the annotator's own project.
    (frozenset({"GET", "HEAD", "POST"}), r"/user/(login|signup)", _always),
    (_READ, r"/logout", _always),
    (_READ, r"/projects/(?P<pid>\d+)(/data)?", _project_page),
    # Who am I; the annotator's own token (what the adapter's annotators label with).
    (_READ, r"/api/current-user/(whoami|token)", _always),
    (_READ, r"/api/projects/(?P<pid>\d+)", _project),
    (_READ, r"/api/projects/(?P<pid>\d+)/next", _next),
    (_READ, r"/api/projects/(?P<pid>\d+)/label-stream-history", _project_page),
    (_READ, r"/api/dm/(columns|actions)", _project_query),
    (_READ, r"/api/dm/project", _dm_project),
    (_READ, r"/api/dm/views", _views),
    (_READ, r"/api/dm/views/(?P<vid>\d+)", _view),
    (frozenset({"POST"}), r"/api/dm/actions", _dm_action),
    (_READ, r"/api/label_links", _project_query),
    (_READ, r"/api/(ml|users)", _nothing),
    (_READ, r"/api/tasks", _task_list),
    (_READ, r"/api/tasks/(?P<tid>\d+)", _task),
    (_READ | {"POST"}, r"/api/tasks/(?P<tid>\d+)/annotations", _task_annotations),
    (_READ | {"POST"}, r"/api/tasks/(?P<tid>\d+)/drafts", _task_drafts),
    (_READ | {"POST"}, r"/api/tasks/(?P<tid>\d+)/annotations/(?P<aid>\d+)/drafts", _annotation_drafts),
    (_READ | {"PUT", "PATCH"}, r"/api/annotations/(?P<aid>\d+)", _annotation),
    (_READ | {"PUT", "PATCH", "DELETE"}, r"/api/drafts/(?P<did>\d+)", _draft),
]
RULES = [(methods, re.compile(pattern), check) for methods, pattern, check in _RULES]


def decide(request, me: Annotator) -> Allow | Answer | None:
    path = request.path_info
    if request.method in _READ and (path.startswith(STATIC_PREFIXES) or path.rstrip("/") in STATIC_FILES):
        return Allow()
    path = path.rstrip("/") or "/"
    for methods, pattern, check in RULES:
        match = pattern.fullmatch(path)
        if match and request.method in methods:
            return check(request, me, match)
    return DENY


# --------------------------------------------------------------------------- middleware


def acting_users(request) -> list:
    """Everyone this request may act as: the session's (or JWT's) user, and the owner of
    a legacy ``Token`` header, which DRF authenticates later, inside the view."""
    users = []
    session_user = getattr(request, "user", None)
    if session_user is not None and session_user.is_authenticated:
        users.append(session_user)
    if request.META.get("HTTP_AUTHORIZATION", "").split(" ")[0].lower() == "token":
        from rest_framework.authentication import TokenAuthentication
        from rest_framework.exceptions import AuthenticationFailed

        try:
            found = TokenAuthentication().authenticate(request)
        except AuthenticationFailed:
            found = None  # DRF answers 401 itself
        if found is not None:
            users.append(found[0])
    return users


def forbidden(request) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Forbidden by Qianbiao's lock-down."}, status=403)
    return HttpResponse("Forbidden by Qianbiao's lock-down.", status=403, content_type="text/plain")


def _filtered(response, response_filter):
    if response.status_code != 200 or "json" not in response.get("Content-Type", ""):
        return response
    response.content = json.dumps(response_filter(json.loads(response.content))).encode()
    return response


class LockdownMiddleware:
    def __init__(self, get_response, secret: str | None = None) -> None:
        import qianbiao_label_studio_wsgi

        self.get_response = get_response
        self.secret = secret or qianbiao_label_studio_wsgi.QIANBIAO_SECRET

    def __call__(self, request):
        from qianbiao_handoff import HANDOFF_PATH, handoff

        if request.path_info == HANDOFF_PATH:
            return handoff(request, self.secret)
        # Label Studio answers a path without its trailing slash by running the whole
        # middleware chain again on the same request with the slash added: decided once.
        seen = getattr(request, "_qianbiao_lockdown", None)
        if seen is not None and seen[0] == (request.method, request.path_info.rstrip("/")):
            decision = seen[1]
        else:
            decision = self._decide(request)
            request._qianbiao_lockdown = ((request.method, request.path_info.rstrip("/")), decision)
        if decision is PASS:
            return self.get_response(request)
        if decision is DENY:
            return forbidden(request)
        if isinstance(decision, Answer):
            return JsonResponse(decision.payload, safe=False)
        response = self.get_response(request)
        if decision.response_filter is not None:
            response = _filtered(response, decision.response_filter)
        return response

    def _decide(self, request):
        users = [user for user in acting_users(request) if not user.is_superuser]
        if not users:
            return PASS  # superusers, and anonymous requests (Label Studio refuses those)
        if len({user.pk for user in users}) > 1:
            return DENY  # two different annotators in one request
        return decide(request, Annotator(users[0], self.secret))
