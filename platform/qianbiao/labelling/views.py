"""Label Studio's webhook endpoint: authenticate, parse, record, enqueue — nothing more.

The raw body carries the Label Studio project's token: it is never logged or stored.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from annotation.errors import LabelStudioError, WebhookAuthError
from annotation.webhooks import check_secret, parse_webhook
from qianbiao.labelling.ingest import webhook_record

logger = logging.getLogger(__name__)


def _authenticated(request: HttpRequest) -> bool:
    """The current secret, or one being rotated out (each compared in constant time)."""
    for secret in (settings.LABEL_STUDIO_WEBHOOK_SECRET, *settings.LABEL_STUDIO_WEBHOOK_PREVIOUS_SECRETS):
        try:
            check_secret(request.headers, secret)
        except WebhookAuthError:
            continue
        return True
    return False


@csrf_exempt
@require_POST
def label_studio_webhook(request: HttpRequest) -> JsonResponse:
    if not _authenticated(request):
        return JsonResponse({"detail": "forbidden"}, status=403)
    try:
        event = parse_webhook(request.body)
    except LabelStudioError:
        return JsonResponse({"detail": "not a Label Studio webhook"}, status=400)
    row = webhook_record(event=event)
    return JsonResponse({"recorded": row.pk if row else None})
