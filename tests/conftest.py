"""Named fixtures shared by the suite: an admin, a project manager, an annotator,
a reviewer and an outsider."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from qianbiao.core.roles import PROJECT_MANAGER_GROUP
from tests.browser import launch_browser
from tests.factories import AnnotatorFactory, FacilityFactory, UserFactory


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(db):
    """A logged-in user with no role at all."""
    return UserFactory(username="outsider")


@pytest.fixture
def facility(db):
    return FacilityFactory()


@pytest.fixture
def annotator(facility):
    return AnnotatorFactory(facility=facility)


@pytest.fixture
def reviewer(facility):
    return AnnotatorFactory(facility=facility, is_reviewer=True, skill_level=3)


@pytest.fixture
def project_manager(db):
    """A staff user in the project_manager group (the group comes from migrate)."""
    user = UserFactory(username="pm", is_staff=True)
    user.groups.add(Group.objects.get(name=PROJECT_MANAGER_GROUP))
    return user


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 at production strength costs most of a second per test user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def sent(monkeypatch):
    """Every message that would leave for the broker, as (task name, args)."""
    from workers import enqueue

    messages: list[tuple[str, tuple]] = []
    monkeypatch.setattr(enqueue, "_send", lambda name, args=(), kwargs=None: messages.append((name, args)))
    return messages


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a Celery task in this process; its on-commit follow-ups fire as after a commit."""

    def _run(task, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return task.apply(args=args, kwargs=kwargs).get()

    return _run


ANNOTATOR_PASSWORD = "correct horse battery staple"


@pytest.fixture
def annotator_user(annotator):
    """The ``annotator``'s own portal login, activated with ANNOTATOR_PASSWORD."""
    from qianbiao.portal import services

    issued = services.logins_issue(annotator_ids=[annotator.pk], issued_by=None).issued[0]
    return services.login_activate(login_id=annotator.login.pk, code=issued.code, password=ANNOTATOR_PASSWORD)


@pytest.fixture(scope="module")
def browser():
    """Real headless Chromium for browser tests (see tests/browser.py)."""
    yield from launch_browser()
