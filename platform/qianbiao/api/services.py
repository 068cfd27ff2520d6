"""Writes behind the REST API: dataset projects and item uploads.

(Project creation and change could move to ``qianbiao.projects`` once another
caller than the API needs them; they only use that app's models.)
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from qianbiao.enterprises.models import Enterprise
from qianbiao.projects.items import ItemImportRejected, items_import
from qianbiao.projects.models import Assignment, DatasetProject, ProjectStatus
from workers import enqueue

from .bulk import jsonl_import_postgresql
from .errors import InvalidRows
from .ingest import JSONL, ParseReport, rows_errors_merge, rows_parse
from .label_config import label_config_validate

# What a client may set the status to; "completed" is Qianbiao's to decide.
CLIENT_STATUSES = (ProjectStatus.DRAFT, ProjectStatus.ACTIVE, ProjectStatus.PAUSED)
# Settings that the work already done depends on.
LOCKED_ONCE_STARTED = ("task_type", "label_config", "overlap")


def _label_config_check(config: str) -> None:
    try:
        label_config_validate(config)
    except ValidationError as exc:
        raise ValidationError({"label_config": exc.messages}) from None


def _status_check(status: str, *, creating: bool) -> None:
    allowed = (ProjectStatus.DRAFT, ProjectStatus.ACTIVE) if creating else CLIENT_STATUSES
    if status not in allowed:
        raise ValidationError({"status": _("Choose one of: %(allowed)s.") % {"allowed": ", ".join(allowed)}})


def _deadline_check(deadline) -> None:
    if deadline is not None and deadline < timezone.localdate():
        raise ValidationError({"deadline": _("The deadline is in the past.")})


@transaction.atomic
def project_create(*, client: Enterprise, data: dict[str, Any]) -> DatasetProject:
    if not client.is_client:
        raise PermissionDenied(_("Only a client enterprise can create dataset projects."))
    _label_config_check(data.get("label_config", ""))
    _status_check(data.get("status", ProjectStatus.ACTIVE), creating=True)
    _deadline_check(data.get("deadline"))
    project = DatasetProject(client=client, **data)
    project.full_clean()
    project.save()
    return project


@transaction.atomic
def project_update(*, project: DatasetProject, data: dict[str, Any]) -> DatasetProject:
    project = DatasetProject.objects.select_for_update().get(pk=project.pk)
    changed = {name: value for name, value in data.items() if getattr(project, name) != value}
    locked = [name for name in LOCKED_ONCE_STARTED if name in changed]
    if locked and Assignment.objects.filter(project=project).exists():
        raise ValidationError(
            {name: _("Cannot be changed once annotators have been assigned work.") for name in locked}
        )
    if "status" in changed:
        if project.status == ProjectStatus.COMPLETED:
            raise ValidationError({"status": _("A completed project cannot be reopened.")})
        _status_check(changed["status"], creating=False)
    if "label_config" in changed:
        _label_config_check(changed["label_config"])
    if "deadline" in changed:
        _deadline_check(changed["deadline"])
    for name, value in changed.items():
        setattr(project, name, value)
    project.full_clean()
    if changed:
        project.save(update_fields=list(changed))
    return project


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
