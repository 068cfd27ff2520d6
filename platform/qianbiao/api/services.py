"""Writes behind the REST API: item uploads.

(A project's creation and change are the projects app's: qianbiao.projects.services.)
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import DataError, connection, transaction
from django.utils.translation import gettext as _

from qianbiao.projects.items import ItemImportRejected, items_import
from qianbiao.projects.models import DatasetProject, ProjectStatus
from workers import enqueue

from .bulk import jsonl_import_postgresql
from .errors import InvalidRows
from .ingest import JSONL, ParseReport, rows_errors_merge, rows_parse


@transaction.atomic
def items_upload(*, project: DatasetProject, body, fmt: str) -> dict[str, Any]:
    """Import an upload (a ``BoundedBody``) in one transaction: every row or none.

    An active project's distribution is enqueued once that transaction commits
    (the caller's, when it runs inside one: an idempotent request commits with its
    record), so the new items reach annotators without waiting for the sweep. A
    failed or rolled-back import enqueues nothing, and neither does a replay,
    which never gets here.

    Raises InvalidRows naming every bad row, BodyTooLarge past the size limit."""
    if project.status == ProjectStatus.COMPLETED:
        raise ValidationError({"project": _("A completed project takes no more items.")})
    report = ParseReport()
    try:
        if fmt == JSONL:
            imported = jsonl_import_postgresql(project=project, body=body, report=report)
        else:
            imported = items_import(project=project, rows=rows_parse(body=body, fmt=fmt, report=report))
    except ItemImportRejected as exc:
        raise InvalidRows(rows_errors_merge(exc.errors, report), truncated=exc.truncated) from None
    except (DataError, UnicodeEncodeError, connection.Database.DataError):
        # Valid JSON that PostgreSQL cannot store: \u0000 in a string, a lone surrogate.
        raise ValidationError(
            {
                "body": _(
                    "Some value cannot be stored (a \\u0000 character or a lone surrogate); "
                    "nothing was imported."
                )
            }
        ) from None
    if imported == 0:
        raise ValidationError({"body": _("The upload holds no items.")})
    if project.status == ProjectStatus.ACTIVE:
        enqueue.distribute_project(project.pk)
    return {"project_id": project.pk, "imported": imported}
