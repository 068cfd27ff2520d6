"""The portal's hand-off against a real Label Studio: the account and the queue are
made when missing, and the token names the annotator's own Label Studio user, the
shard and their queue view."""

from __future__ import annotations

import base64
import json

import pytest

from qianbiao.labelling.models import LabelStudioAccount, LabelStudioQueue
from qianbiao.labelling.push import assignments_push
from qianbiao.portal import handoff
from tests.labelstudio.conftest import make_work

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def payload(token: str) -> dict:
    body = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_handoff_makes_the_missing_queue_and_names_the_annotators_own_view(ls_settings):
    ls_settings.LABEL_STUDIO_PUBLIC_URL = "https://label.example.cn"
    project, (annotator,), _ = make_work(annotators=1, items=3)
    with pytest.raises(handoff.HandoffUnavailable):  # nothing in Label Studio yet
        handoff.handoff_prepare(annotator_id=annotator.pk, project_id=project.pk)

    assignments_push(project_id=project.pk)
    LabelStudioQueue.objects.all().delete()  # as if the push's follow-up had not run yet
    done = handoff.handoff_prepare(annotator_id=annotator.pk, project_id=project.pk)

    account = LabelStudioAccount.objects.get(annotator=annotator)
    queue = LabelStudioQueue.objects.select_related("ls_project").get(account=account)
    assert done.action == "https://label.example.cn/qianbiao/handoff/"
    claims = payload(done.token)
    assert (claims["u"], claims["p"], claims["v"]) == (
        account.ls_user_id,
        queue.ls_project.ls_project_id,
        queue.ls_view_id,
    )
