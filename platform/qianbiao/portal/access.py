"""Who may use the portal: a signed-in annotator whose workforce status is active,
checked on every request. A leaver's or a suspended annotator's session ends on
their next request here (the receivers also deactivate their user, which ends it
everywhere else), even where the status changed by a queryset update that sent
no signal."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from qianbiao.workforce.models import Annotator, AnnotatorStatus

from .models import AnnotatorLogin


def request_annotator(request: HttpRequest) -> Annotator | None:
    """The active annotator behind the request's user, read fresh from the database."""
    user = request.user
    if not user.is_authenticated:
        return None
    return (
        Annotator.objects.select_related("facility")
        .filter(login__user=user, status=AnnotatorStatus.ACTIVE)
        .first()
    )


def annotator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        login_url = reverse("portal:login")
        if not request.user.is_authenticated:
            if SESSION_KEY in request.session:
                # A user Django refused to load (deactivated on leaving): end the session.
                request.session.flush()
            return redirect_to_login(request.get_full_path(), login_url=login_url)
        annotator = request_annotator(request)
        if annotator is None:
            if not AnnotatorLogin.objects.filter(user=request.user).exists():
                raise PermissionDenied  # a staff user: the portal is not theirs, keep their session
            # A leaver or a suspended annotator: their session ends here and now.
            logout(request)
            messages.error(request, _("Your access to the annotator portal has ended."))
            return redirect_to_login(request.get_full_path(), login_url=login_url)
        request.annotator = annotator
        return view(request, *args, **kwargs)

    wrapped.portal_annotator_required = True  # tests check every portal view has it
    return wrapped
