"""The hand-off receiver: ``POST /qianbiao/handoff/`` with a form field ``token`` signed
by Qianbiao (``qianbiao_signing.handoff_token``) logs that annotator into Label Studio
once and sends them to their own queue in the labelling stream.

A POST body, never a URL: no session grant in access logs or a Referer. Authenticated by
the signature, so this one endpoint is outside Django's CSRF check (the lock-down
middleware serves it before the view phase, where that check runs). Each token's nonce is
recorded in ``qianbiao_handoff_nonce`` in Label Studio's own database, so a replay fails.
"""

from __future__ import annotations

import logging
import time

from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse, HttpResponseRedirect
from qianbiao_signing import HandoffInvalid, read_handoff

HANDOFF_PATH = "/qianbiao/handoff/"
NONCE_TABLE = "qianbiao_handoff_nonce"
# The same statement on SQLite and PostgreSQL; run by qianbiao_label_studio_wsgi on start.
CREATE_NONCE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {NONCE_TABLE} (nonce VARCHAR(64) PRIMARY KEY, expires_at BIGINT NOT NULL)"
)

logger = logging.getLogger(__name__)


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


def ensure_nonce_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(CREATE_NONCE_TABLE)


def _use_nonce(nonce: str, expires_at: int, now: float) -> bool:
    """Records the nonce; False when it was already used. Expired nonces are forgotten
    (their tokens are refused on expiry anyway)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {NONCE_TABLE} WHERE expires_at < %s", [int(now) - 60])
            cursor.execute(
                f"INSERT INTO {NONCE_TABLE} (nonce, expires_at) VALUES (%s, %s)", [nonce, int(expires_at)]
            )
    except IntegrityError:
        return False
    return True


def _refuse(reason: str) -> HttpResponse:
    logger.warning("hand-off refused: %s", reason)
    return HttpResponse(f"Hand-off refused: {reason}.", status=403, content_type="text/plain")


def handoff(request, secret: str, now: float | None = None) -> HttpResponse:
    from django.contrib.auth import get_user_model
    from qianbiao_lockdown import Annotator

    # Label Studio's own login: it stamps the session's ``last_login``, without which its
    # inactivity middleware logs the user out on the very next request.
    from users.functions.common import login

    if request.method != "POST":
        return HttpResponse("POST a token.", status=405, headers={"Allow": "POST"})
    now = time.time() if now is None else now
    try:
        claims = read_handoff(request.POST.get("token", ""), secret, now)
    except HandoffInvalid as error:
        return _refuse(str(error))
    user = get_user_model().objects.filter(pk=claims.ls_user_id).first()
    if user is None or not user.is_active or user.is_superuser:
        return _refuse("no such annotator")
    # The view must be this user's own queue in that project (a token names it; the
    # lock-down would refuse a foreign one anyway).
    if not Annotator(user, secret).owns_view(claims.ls_project_id, claims.view_id):
        return _refuse("not this annotator's queue")
    if not _use_nonce(claims.nonce, claims.expires_at, now):
        return _refuse("already used")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    response = HttpResponseSeeOther(f"/projects/{claims.ls_project_id}/data?tab={claims.view_id}&labeling=1")
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response
