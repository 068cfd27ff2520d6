"""The annotator portal: sign in, activate, My work, and the hand-off to Label Studio."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import selectors, services
from .access import annotator_required
from .forms import ActivationForm, PortalLoginForm
from .handoff import HandoffUnavailable, handoff_prepare

log = logging.getLogger(__name__)

# The session is made with Django's own backend: it checks is_active on every
# request when it loads the user, which is how a leaver's session ends.
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"


class PortalLoginView(LoginView):
    template_name = "portal/login.html"
    authentication_form = PortalLoginForm

    def get_default_redirect_url(self) -> str:
        return reverse("portal:my-work")


@require_POST
def portal_logout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("portal:login")


@never_cache
def activate(request: HttpRequest) -> HttpResponse:
    form = ActivationForm(request, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.login_activate(
                login_id=form.user.annotator_login.pk,
                code=form.cleaned_data["code"],
                password=form.cleaned_data["password1"],
            )
        except services.ActivationRefused:
            form.add_error(
                None, _("Wrong employee number or activation code, or the code has expired or was used.")
            )
        else:
            login(request, user, backend=SESSION_BACKEND)
            messages.success(request, _("Your password is set. Welcome!"))
            return redirect("portal:my-work")
    return render(request, "portal/activate.html", {"form": form})


@never_cache
@annotator_required
def my_work(request: HttpRequest) -> HttpResponse:
    work = selectors.annotator_work(annotator=request.annotator)
    return render(request, "portal/my_work.html", {"annotator": request.annotator, "work": work})


@require_POST
@never_cache
@annotator_required
def start_labelling(request: HttpRequest, project_id: int) -> HttpResponse:
    """Renders a form that posts the hand-off token to Label Studio by itself: the
    token travels in a POST body, never in a URL (logs, history, Referer)."""
    work = selectors.annotator_project_work(annotator=request.annotator, project_id=project_id)
    if work is None:
        raise Http404
    if not work.can_start:
        messages.error(request, _("There is nothing for you to label in this project right now."))
        return redirect("portal:my-work")
    try:
        handoff = handoff_prepare(annotator_id=request.annotator.pk, project_id=project_id)
    except HandoffUnavailable as exc:
        log.warning(
            "hand-off of annotator %s in project %s failed: %s", request.annotator.pk, project_id, exc
        )
        messages.error(request, _("Label Studio is not available right now. Please try again in a minute."))
        return redirect("portal:my-work")
    response = render(request, "portal/handoff.html", {"handoff": handoff, "project": work.project})
    response["Referrer-Policy"] = "no-referrer"
    return response
