"""Who may open the dashboards: project managers (and superusers), nobody else."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from qianbiao.core.roles import user_is_project_manager


def project_manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors go to the (admin) login and come back; a signed-in
    user without the role gets 403 — sending them to a login they already
    passed would only loop."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("admin:login"))
        if not user_is_project_manager(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped
