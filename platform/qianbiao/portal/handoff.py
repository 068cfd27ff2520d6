"""The hand-off into Label Studio, Qianbiao's side: make sure the annotator has a
Label Studio account and a queue in the project, then sign a short-lived, single-use
token that Label Studio's receiver (``/qianbiao/handoff/``) exchanges for a session
as the annotator's own Label Studio user, landing on their queue.

The portal's only door into the labelling app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from django.conf import settings

from annotation.errors import LabelStudioError
from qianbiao.labelling.accounts import annotator_provision_label_studio
from qianbiao.labelling.queues import annotator_queues_open

# Label Studio's receiver refuses a token older than this (and a nonce it has seen).
TOKEN_LIFETIME_S = 60
_PURPOSE = b"handoff:"


class HandoffUnavailable(Exception):
    """Label Studio could not be reached, or holds no queue of the annotator's here."""


@dataclass(frozen=True)
class Handoff:
    action: str  # where the form posts the token
    token: str


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _handoff_token(ls_user_id: int, ls_project_id: int, view_id: int, secret: str, now: float) -> str:
    """``<payload>.<signature>``: base64url of the JSON {"u","p","v","exp","n"}, and of
    HMAC-SHA256 over "handoff:" + that payload text, keyed with the shared secret.

    TODO(lead, issue 12): replace with the adapter's ``handoff_token(ls_user_id,
    ls_project_id, view_id, secret, now)`` (a dependency-free module under
    ``annotation/``, name not final) so both sides use one implementation."""
    payload = {
        "u": ls_user_id,
        "p": ls_project_id,
        "v": view_id,
        "exp": int(now) + TOKEN_LIFETIME_S,
        "n": secrets.token_urlsafe(16),
    }
    body = _b64url(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signature = hmac.new(secret.encode(), _PURPOSE + body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64url(signature)}"


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
    token = _handoff_token(
        account.ls_user_id,
        queue.ls_project.ls_project_id,
        queue.ls_view_id,
        settings.LABEL_STUDIO_QIANBIAO_SECRET,
        time.time(),
    )
    return Handoff(action=settings.LABEL_STUDIO_PUBLIC_URL.rstrip("/") + "/qianbiao/handoff/", token=token)
