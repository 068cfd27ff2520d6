"""Activation codes, signing in, django-axes' lockout, and losing access on leaving."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse
from django.utils import timezone

from qianbiao.portal import codes, services
from qianbiao.portal.models import AnnotatorLogin
from qianbiao.workforce.models import Annotator, AnnotatorStatus
from qianbiao.workforce.services import annotator_leave, annotator_rehire
from tests.conftest import ANNOTATOR_PASSWORD
from tests.factories import AnnotatorFactory

pytestmark = pytest.mark.django_db

ACTIVATE = reverse("portal:activate")
LOGIN = reverse("portal:login")
MY_WORK = reverse("portal:my-work")
NEW_PASSWORD = "mountain river 2026 kaili"


def issue(annotator, **kwargs) -> str:
    return services.logins_issue(annotator_ids=[annotator.pk], issued_by=None, **kwargs).issued[0].code


def activate(client, annotator, code, password=NEW_PASSWORD, **extra):
    data = {"employee_number": annotator.code, "code": code, "password1": password, "password2": password}
    return client.post(ACTIVATE, data, **extra)


def sign_in(client, annotator, password, **extra):
    return client.post(LOGIN, {"username": annotator.code, "password": password}, **extra)


def test_codes_are_short_unambiguous_and_stored_only_as_a_hash(annotator):
    code = issue(annotator)
    assert len(code) == codes.LENGTH and set(code) <= set(codes.ALPHABET)
    assert not set("01OIL") & set(codes.ALPHABET)
    login = AnnotatorLogin.objects.get(annotator=annotator)
    assert code not in login.code_hash and login.code_hash == codes.code_digest(code)
    assert login.code_expires_at - timezone.now() > dt.timedelta(days=13)
    assert not login.user.has_usable_password() and not login.user.is_staff


def test_activation_sets_the_password_signs_in_and_is_single_use(client, annotator):
    code = issue(annotator)
    # Typed from paper: lower case and the slip's dash are fine.
    response = activate(client, annotator, codes.code_display(code).lower())
    assert response.status_code == 302 and response.url == MY_WORK
    assert client.get(MY_WORK).status_code == 200
    user = AnnotatorLogin.objects.get(annotator=annotator).user
    assert user.check_password(NEW_PASSWORD)

    client.logout()
    again = activate(client, annotator, code, password="another fine password 9")
    assert again.status_code == 200 and SESSION_KEY not in client.session
    assert "已使用" in again.content.decode()
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert sign_in(client, annotator, NEW_PASSWORD).status_code == 302


def test_an_expired_code_is_refused(client, annotator):
    code = issue(annotator)
    AnnotatorLogin.objects.filter(annotator=annotator).update(code_expires_at=timezone.now())
    response = activate(client, annotator, code)
    assert response.status_code == 200 and SESSION_KEY not in client.session
    assert AnnotatorLogin.objects.get(annotator=annotator).activated_at is None


def test_a_wrong_code_or_another_annotators_code_is_refused(client, annotator, facility):
    other = AnnotatorFactory(facility=facility)
    issue(annotator)
    others_code = issue(other)
    assert activate(client, annotator, "ABCDEFGHJK").status_code == 200
    assert activate(client, annotator, others_code).status_code == 200
    assert SESSION_KEY not in client.session
    assert not AnnotatorLogin.objects.filter(activated_at__isnull=False).exists()


def test_password_validators_apply(client, annotator):
    code = issue(annotator)
    response = activate(client, annotator, code, password="password")
    assert response.status_code == 200 and SESSION_KEY not in client.session
    # The code was not spent on a refused password.
    assert activate(client, annotator, code).status_code == 302


def test_reset_reissues_a_code_and_the_old_password_stops_working(client, annotator, annotator_user):
    assert sign_in(client, annotator, ANNOTATOR_PASSWORD).status_code == 302
    code = issue(annotator, reset=True)
    # The session made with the old password ends (its hash no longer matches).
    assert client.get(MY_WORK).status_code == 302
    assert sign_in(client, annotator, ANNOTATOR_PASSWORD).status_code == 200
    assert activate(client, annotator, code).status_code == 302


def test_activation_leaves_activated_annotators_alone_without_reset(annotator, annotator_user):
    outcome = services.logins_issue(annotator_ids=[annotator.pk], issued_by=None)
    assert outcome.issued == [] and outcome.already_active == [annotator]
    annotator_user.refresh_from_db()
    assert annotator_user.check_password(ANNOTATOR_PASSWORD)


def test_staff_cannot_sign_in_to_the_portal_and_annotators_not_to_the_admin(
    client, annotator, annotator_user
):
    response = client.post(
        reverse("admin:login"), {"username": annotator_user.username, "password": ANNOTATOR_PASSWORD}
    )
    assert response.status_code == 200 and SESSION_KEY not in client.session


def test_throttling_locks_out_after_the_failure_limit_per_employee_number_and_ip(
    client, annotator, annotator_user, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, annotator, "wrong password").status_code == 200
    # The limit-th failure locks (axes answers it with its lockout page) ...
    assert sign_in(client, annotator, "wrong password").status_code == 429
    # ... and then even the right password is refused, until the cool-off.
    locked = sign_in(client, annotator, ANNOTATOR_PASSWORD)
    assert locked.status_code == 429 and SESSION_KEY not in client.session
    assert "锁定" in locked.content.decode()
    # Another address is not locked out (a facility shares one NAT address per annotator).
    assert sign_in(client, annotator, ANNOTATOR_PASSWORD, REMOTE_ADDR="10.0.0.9").status_code == 302


def test_guessing_activation_codes_is_throttled_too(client, annotator, settings):
    code = issue(annotator)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        activate(client, annotator, "ABCDEFGHJK")
    assert activate(client, annotator, code).status_code == 429
    assert AnnotatorLogin.objects.get(annotator=annotator).activated_at is None


def test_admin_login_still_works_with_axes(client, project_manager):
    response = client.post(
        reverse("admin:login"), {"username": "pm", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302 and client.session[SESSION_KEY] == str(project_manager.pk)


def test_a_leaver_is_logged_out_on_the_next_request(client, annotator, annotator_user):
    assert sign_in(client, annotator, ANNOTATOR_PASSWORD).status_code == 302
    assert client.get(MY_WORK).status_code == 200
    annotator_leave(annotator=annotator, last_day=dt.date(2026, 6, 30))
    response = client.get(MY_WORK)
    assert response.status_code == 302 and response.url.startswith(LOGIN)
    assert SESSION_KEY not in client.session
    assert sign_in(client, annotator, ANNOTATOR_PASSWORD).status_code == 200  # and cannot come back
    annotator.refresh_from_db()
    annotator_rehire(
        annotator=annotator,
        facility=annotator.facility,
        employer=annotator.employer,
        started_on=dt.date(2026, 8, 1),
    )
    assert sign_in(client, annotator, ANNOTATOR_PASSWORD).status_code == 302


def test_a_status_change_without_signals_is_caught_on_the_next_request(client, annotator, annotator_user):
    assert sign_in(client, annotator, ANNOTATOR_PASSWORD).status_code == 302
    Annotator.objects.filter(pk=annotator.pk).update(status=AnnotatorStatus.SUSPENDED)
    response = client.get(MY_WORK)
    assert response.status_code == 302 and SESSION_KEY not in client.session


def test_a_staff_user_gets_403_and_keeps_their_admin_session(client, project_manager):
    client.force_login(project_manager)
    assert client.get(MY_WORK).status_code == 403
    assert client.session[SESSION_KEY] == str(project_manager.pk)


def test_pages_are_chinese_by_default_and_english_under_en(client):
    assert "登录" in client.get(LOGIN).content.decode()
    assert "Sign in" in client.get("/en" + LOGIN).content.decode()
