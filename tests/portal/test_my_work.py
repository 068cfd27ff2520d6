"""My work (我的任务): only the annotator's own figures; and the hand-off view."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import URLPattern, reverse

from qianbiao.portal import handoff, urls
from qianbiao.projects.models import AnnotatorStanding
from qianbiao.quality.models import AnnotatorQuality, EntryExam, ExamStatus
from tests.factories import AnnotatorFactory
from tests.portal.helpers import give_work

pytestmark = pytest.mark.django_db

MY_WORK = reverse("portal:my-work")


@pytest.fixture
def signed_in(client, annotator_user):
    client.force_login(annotator_user)
    return client


def test_my_work_shows_own_assignments_and_figures_only(signed_in, annotator, facility):
    project, mine = give_work(annotator, n=2, prefix="mine")
    other = AnnotatorFactory(facility=facility)
    give_work(other, project=project, n=3, prefix="theirs")
    _other_project, _ = give_work(other, n=1, prefix="elsewhere")
    AnnotatorQuality.objects.create(
        project=project, annotator=annotator, task_type=project.task_type,
        gold_answered=20, gold_correct=17, gold_low=0.64, gold_high=0.95, score=0.83,
    )  # fmt: skip
    AnnotatorQuality.objects.create(
        project=project,
        annotator=other,
        task_type=project.task_type,
        gold_answered=9,
        gold_correct=1,
        score=0.1,
    )
    EntryExam.objects.create(
        project=project, annotator=annotator, status=ExamStatus.PASSED, answered=5, correct=5
    )

    page = signed_in.get(MY_WORK).content.decode()
    assert "mine-0" in page and "mine-1" in page
    assert "theirs" not in page and "elsewhere" not in page and _other_project.name not in page
    section = re.search(rf'data-project="{project.pk}".*?</section>', page, re.S).group(0)
    assert re.search(r'data-field="open">2<', section)
    assert re.search(r'data-field="today">2 / 40<', section)
    assert "85%" in section and "64%" in section and "95%" in section and "17/20" in section
    assert re.search(r'data-field="score">0.83<', section)
    assert "通过" in section  # entry exam passed
    assert "开始标注" in section and "disabled" not in section


def test_a_paused_annotator_sees_why_and_cannot_start(signed_in, annotator):
    project, _ = give_work(annotator, n=1)
    AnnotatorStanding.objects.create(
        project=project, annotator=annotator, paused=True, paused_reason="金标题正确率低于 70%"
    )
    page = signed_in.get(MY_WORK).content.decode()
    assert "金标题正确率低于 70%" in page and "已被暂停" in page
    assert re.search(r'class="primary start" disabled', page)


def test_every_portal_view_but_sign_in_needs_an_employed_annotator():
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        guarded = getattr(pattern.callback, "portal_annotator_required", False)
        assert guarded or pattern.name in urls.PUBLIC_VIEWS, pattern.name


# --------------------------------------------------------------------------- hand-off

SECRET = "test-handoff-secret"


@pytest.fixture
def label_studio(monkeypatch, settings):
    """Label Studio as the hand-off sees it: an account and a queue, no server."""
    settings.LABEL_STUDIO_QIANBIAO_SECRET = SECRET
    settings.LABEL_STUDIO_PUBLIC_URL = "https://label.example.cn"
    calls = []
    account = SimpleNamespace(ls_user_id=77)
    queue = SimpleNamespace(ls_view_id=5, ls_project=SimpleNamespace(ls_project_id=12))
    monkeypatch.setattr(handoff, "annotator_provision_label_studio", lambda **kw: calls.append(kw) or account)
    monkeypatch.setattr(handoff, "annotator_queues_open", lambda **kw: calls.append(kw) or [queue])
    return calls


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_handoff_refuses_get_and_needs_login_and_csrf(annotator, annotator_user, label_studio):
    project, _ = give_work(annotator, n=1)
    url = reverse("portal:start", args=[project.pk])
    client = Client(enforce_csrf_checks=True)
    assert client.get(url).status_code == 405
    client.get(reverse("portal:login"))  # sets the CSRF cookie
    csrf = {"csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    anonymous = client.post(url, csrf)
    assert anonymous.status_code == 302 and "/work/login/" in anonymous.url
    client.force_login(annotator_user)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    assert label_studio == []
    client.get(MY_WORK)  # a fresh CSRF cookie after login
    assert client.post(url, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value}).status_code == 200


def test_the_handoff_page_posts_a_signed_short_lived_token(signed_in, annotator, label_studio):
    project, _ = give_work(annotator, n=1)
    signed_in.get(MY_WORK)
    response = signed_in.post(reverse("portal:start", args=[project.pk]))
    assert response.status_code == 200 and response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    form = re.search(r'<form id="handoff" method="post" action="([^"]+)">', page)
    assert form and form.group(1) == "https://label.example.cn/qianbiao/handoff/"
    token = re.search(r'<input type="hidden" name="token" value="([^"]+)">', page).group(1)
    # Only in the POST body: in no URL of the page, nor in a Location header.
    for url in re.findall(r'(?:href|src|action)="([^"]*)"', page):
        assert token not in url and "token" not in url
    assert "Location" not in response

    body, signature = token.split(".")
    expected = hmac.new(SECRET.encode(), b"handoff:" + body.encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(_unb64(signature), expected)
    payload = json.loads(_unb64(body))
    assert (payload["u"], payload["p"], payload["v"]) == (77, 12, 5)
    assert 0 < payload["exp"] - time.time() <= 60 and len(payload["n"]) >= 16
    assert label_studio == [
        {"annotator_id": annotator.pk},
        {"annotator_id": annotator.pk, "project_id": project.pk},
    ]


def test_each_handoff_token_is_fresh(signed_in, annotator, label_studio):
    project, _ = give_work(annotator, n=1)
    url = reverse("portal:start", args=[project.pk])
    tokens = {
        re.search(r'name="token" value="([^"]+)"', signed_in.post(url).content.decode()).group(1)
        for _ in "ab"
    }
    assert len(tokens) == 2


def test_no_handoff_into_someone_elses_project_or_without_work(signed_in, annotator, facility, label_studio):
    other = AnnotatorFactory(facility=facility)
    theirs, _ = give_work(other, n=1)
    assert signed_in.post(reverse("portal:start", args=[theirs.pk])).status_code == 404
    mine, _ = give_work(annotator, n=1)
    AnnotatorStanding.objects.create(project=mine, annotator=annotator, paused=True, paused_reason="x")
    assert signed_in.post(reverse("portal:start", args=[mine.pk])).status_code == 302
    assert label_studio == []


def test_label_studio_down_sends_the_annotator_back_with_a_message(signed_in, annotator, monkeypatch):
    from annotation.errors import LabelStudioError

    def down(**kwargs):
        raise LabelStudioError("connection refused")

    monkeypatch.setattr(handoff, "annotator_provision_label_studio", down)
    project, _ = give_work(annotator, n=1)
    response = signed_in.post(reverse("portal:start", args=[project.pk]), follow=True)
    assert "暂时无法访问" in response.content.decode()


def test_an_undecided_entry_exam_shows_as_in_progress(signed_in, annotator):
    from qianbiao.projects.models import Item
    from qianbiao.quality.models import QualityPolicy

    project, _ = give_work(annotator, n=0)
    QualityPolicy.objects.create(project=project, entry_exam_items=2)
    for i in range(2):
        Item.objects.create(project=project, external_id=f"gold-{i}", data={}, is_gold=True, gold_answer=[])
    EntryExam.objects.create(project=project, annotator=AnnotatorFactory(), status=ExamStatus.FAILED)
    AnnotatorStanding.objects.create(project=project, annotator=annotator)
    page = signed_in.get(MY_WORK).content.decode()
    section = re.search(rf'data-project="{project.pk}".*?</section>', page, re.S).group(0)
    assert "进行中（共 2 道金标题）" in section
