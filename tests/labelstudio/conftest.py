"""Qianbiao's Label Studio side against a real Label Studio (the session server of
tests/integration) and the real PostgreSQL that bin/test starts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotation.client import http_client
from annotation.label_configs import text_classification
from annotation.signing import HANDOFF_PATH
from annotation.types import AnnotatorLogin
from qianbiao.projects.models import Assignment, Item
from tests.factories import AnnotatorFactory, DatasetProjectFactory
from tests.integration.conftest import label_studio, ls_admin, ls_invite  # noqa: F401 - fixtures

TEXT_CONFIG = text_classification(["正面", "负面"]).xml


@pytest.fixture
def ls_settings(settings, label_studio):  # noqa: F811
    settings.LABEL_STUDIO_URL = label_studio.url
    settings.LABEL_STUDIO_API_KEY = label_studio.token
    settings.LABEL_STUDIO_WEBHOOK_SECRET = "test-webhook-secret-0123456789"
    # A closed port: Label Studio's delivery fails (at most once, 1 s timeout) —
    # the webhook receiver is "down" unless a test points it at live_server.
    settings.LABEL_STUDIO_WEBHOOK_URL = "http://127.0.0.1:9/hooks/label-studio/"
    return settings


def annotator_label_studio_login(settings, annotator, *, project) -> AnnotatorLogin:
    """What an annotator has after pressing 开始标注 in ``project``: the hand-off's Label
    Studio session (their password is random and unknown), and through it their own
    token, which the lock-down holds to the same rules as the session."""
    from qianbiao.portal.handoff import handoff_prepare

    handoff = handoff_prepare(annotator_id=annotator.pk, project_id=project.pk)
    with http_client(settings.LABEL_STUDIO_URL) as browser:
        landed = browser.post(HANDOFF_PATH, data={"token": handoff.token})
        assert landed.status_code == 303, landed.text
        me = browser.get("/api/current-user/whoami").json()
        token = browser.get("/api/current-user/token").json()["token"]
    return AnnotatorLogin(user_id=me["id"], email=me["email"], token=token)


def choice(value: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [value]}}]


def make_work(*, annotators: int, items: int, overlap: int = 1):
    """A text project, ``annotators`` annotators and ``items`` items, each item
    assigned to ``overlap`` annotators round-robin (open, not pushed)."""
    project = DatasetProjectFactory(
        task_type="text_classification", label_config=TEXT_CONFIG, overlap=overlap
    )
    people = [AnnotatorFactory() for _ in range(annotators)]
    now = timezone.now()
    made = []
    for i in range(items):
        item = Item.objects.create(project=project, external_id=f"ext-{i}", data={"text": f"第 {i} 句"})
        for slot in range(overlap):
            made.append(
                Assignment.objects.create(
                    project=project,
                    item=item,
                    annotator=people[(i + slot) % annotators],
                    slot=slot,
                    assigned_at=now,
                    expires_at=now + dt.timedelta(hours=24),
                )
            )
    return project, people, made
