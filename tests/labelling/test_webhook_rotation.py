"""The webhook secret can be rotated through settings without losing a delivery: the
old secret stays accepted while every shard's webhook is moved to the new one."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from annotation.client import connect
from annotation.webhooks import SECRET_HEADER
from qianbiao.labelling.models import LabelStudioEvent
from qianbiao.labelling.push import assignments_push
from tests.integration.conftest import label_studio  # noqa: F401 - fixture
from tests.labelstudio.conftest import ls_settings, make_work  # noqa: F401 - fixture

BODY = b'{"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}], "project": {"id": 1}}'


def deliver(client, secret: str) -> int:
    header = {f"HTTP_{SECRET_HEADER.upper().replace('-', '_')}": secret}
    return client.post("/hooks/label-studio/", BODY, content_type="application/json", **header).status_code


@pytest.mark.django_db
def test_an_old_secret_is_accepted_while_rotating_and_refused_after(settings, client):
    settings.LABEL_STUDIO_WEBHOOK_SECRET = "new-secret-0123456789abcdef"
    settings.LABEL_STUDIO_WEBHOOK_PREVIOUS_SECRETS = ["old-secret-0123456789abcdef"]
    assert deliver(client, "new-secret-0123456789abcdef") == 200
    assert deliver(client, "old-secret-0123456789abcdef") == 200
    assert deliver(client, "some-other-secret-000000000") == 403
    settings.LABEL_STUDIO_WEBHOOK_PREVIOUS_SECRETS = []
    assert deliver(client, "old-secret-0123456789abcdef") == 403
    assert LabelStudioEvent.objects.count() == 2


@pytest.mark.integration
@pytest.mark.django_db
def test_rotation_moves_every_webhook_to_the_new_secret(ls_settings):  # noqa: F811
    project, _, _ = make_work(annotators=1, items=2)
    assert assignments_push(project_id=project.pk).created == 2
    shard = project.ls_projects.get()
    ls_settings.LABEL_STUDIO_WEBHOOK_SECRET = "rotated-secret-0123456789abc"
    out = io.StringIO()
    call_command("label_studio_webhooks_rotate", stdout=out)
    assert "webhooks updated: 1" in out.getvalue()
    with connect(ls_settings.LABEL_STUDIO_URL, ls_settings.LABEL_STUDIO_API_KEY) as admin:
        hooks = [h for h in admin.get_json("/api/webhooks/") if h.get("project") == shard.ls_project_id]
    assert [h["headers"] for h in hooks] == [{SECRET_HEADER: "rotated-secret-0123456789abc"}]
    # A second run changes nothing and makes no second webhook.
    call_command("label_studio_webhooks_rotate", stdout=io.StringIO())
    with connect(ls_settings.LABEL_STUDIO_URL, ls_settings.LABEL_STUDIO_API_KEY) as admin:
        again = [h for h in admin.get_json("/api/webhooks/") if h.get("project") == shard.ls_project_id]
    assert [h["id"] for h in again] == [h["id"] for h in hooks]
