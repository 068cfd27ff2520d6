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

app = Celery("qianbiao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
app.autodiscover_tasks(["workers"], related_name="callbacks")  # the REST API's callback delivery
app.autodiscover_tasks(["workers"], related_name="dashboards")  # daily snapshots
app.autodiscover_tasks(["workers"], related_name="labelstudio")  # Label Studio push/ingest
app.autodiscover_tasks(["workers"], related_name="quality")  # consensus, gold, review routing
