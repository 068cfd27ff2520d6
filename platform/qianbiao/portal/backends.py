"""Signing in with an activation code, as an authentication backend so that axes
(first in AUTHENTICATION_BACKENDS) counts and locks out wrong codes exactly as it
does wrong passwords. Only the activation form passes ``activation_code``; the
user it returns is not logged in until they have chosen a password."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.backends import BaseBackend
from django.utils import timezone

from qianbiao.workforce.models import AnnotatorStatus

from . import codes
from .models import AnnotatorLogin


class ActivationCodeBackend(BaseBackend):
    def authenticate(self, request, username=None, activation_code=None, **kwargs):
        if not username or not activation_code:
            return None
        login = (
            AnnotatorLogin.objects.select_related("user", "annotator").filter(user__username=username).first()
        )
        if login is None or login.annotator.status != AnnotatorStatus.ACTIVE:
            return None
        if not login.code_expires_at or login.code_expires_at <= timezone.now():
            return None
        if not codes.code_matches(activation_code, login.code_hash):
            return None
        return login.user

    # No get_user: a session is only ever made with ModelBackend (see views).


class AxesBackend(AxesStandaloneBackend):
    """django-axes, for sign-ins that come with a request (every web form does).
    ``authenticate()`` without one (Django's test ``Client.login``, a shell) is no
    web sign-in to throttle: axes would raise, we step aside for the other backends."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
