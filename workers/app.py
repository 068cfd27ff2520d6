"""The Celery application. Tasks stay thin: fetch by id, call a domain service."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Make the platform/ source root importable without ever prepending it (it holds
# no package named "platform", but ordering keeps the stdlib module first anyway).
_SOURCE_ROOT = str(Path(__file__).resolve().parent.parent / "platform")
if _SOURCE_ROOT not in sys.path:
    sys.path.append(_SOURCE_ROOT)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qianbiao.settings")

from celery import Celery  # noqa: E402
from django.db import InterfaceError, OperationalError  # noqa: E402

from annotation.errors import LabelStudioError  # noqa: E402
from workers import enqueue  # noqa: E402
from workers.beat import beat_schedule  # noqa: E402

app = Celery("qianbiao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
app.autodiscover_tasks(["workers"], related_name="callbacks")  # the REST API's callback delivery
app.autodiscover_tasks(["workers"], related_name="dashboards")  # daily snapshots
app.autodiscover_tasks(["workers"], related_name="labelstudio")  # Label Studio push/ingest
app.autodiscover_tasks(["workers"], related_name="quality")  # consensus, gold, review routing
app.conf.beat_schedule = beat_schedule()
# Distribution has a queue of its own, so that its backlog never holds up expiry,
# revocation and ingestion (a worker started without -Q consumes both).
app.conf.task_routes = {enqueue.DISTRIBUTE_PROJECT: {"queue": "distribution"}}

# The one retry policy. A database that restarts or fails over, or a Label Studio
# that is down, raises these; anything else is a bug and retrying would only repeat
# it. Bounded, exponential, jittered.
RETRY: dict[str, object] = {
    "autoretry_for": (OperationalError, InterfaceError, LabelStudioError),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}
# Acknowledge after the task ran, so a message whose worker was killed comes back:
# only for tasks that are idempotent (a second run changes nothing done) and whose
# hard time limit is below the broker's visibility timeout (else a task still
# running would be delivered a second time). tests/test_workers.py checks the limit.
IDEMPOTENT: dict[str, object] = {"acks_late": True}
