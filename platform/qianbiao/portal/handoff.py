"""The hand-off into Label Studio, Qianbiao's side: make sure the annotator has a
Label Studio account and a queue in the project, then sign a short-lived, single-use
token that Label Studio's receiver (``/qianbiao/handoff/``) exchanges for a session
as the annotator's own Label Studio user, landing on their queue.

The portal's only door into the labelling app.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from annotation.errors import LabelStudioError
from annotation.signing import handoff_token
from qianbiao.labelling.accounts import annotator_provision_label_studio
from qianbiao.labelling.queues import annotator_queues_open


class HandoffUnavailable(Exception):
    """Label Studio could not be reached, or holds no queue of the annotator's here."""


@dataclass(frozen=True)
class Handoff:
    action: str  # where the form posts the token
    token: str


def handoff_prepare(*, annotator_id: int, project_id: int) -> Handoff:
    """Account and queue first (idempotent, a Label Studio call only when missing),
    then a fresh token for the project's first shard holding the annotator's queue."""
    try:
        account = annotator_provision_label_studio(annotator_id=annotator_id)
        queues = annotator_queues_open(annotator_id=annotator_id, project_id=project_id) if account else []
    except LabelStudioError as exc:
        raise HandoffUnavailable(str(exc)) from exc
    if not queues:
        raise HandoffUnavailable("no queue")
    queue = queues[0]
    token = handoff_token(
        account.ls_user_id,
        queue.ls_project.ls_project_id,
        queue.ls_view_id,
        settings.LABEL_STUDIO_QIANBIAO_SECRET,
        time.time(),
    )
    return Handoff(action=settings.LABEL_STUDIO_PUBLIC_URL.rstrip("/") + "/qianbiao/handoff/", token=token)
