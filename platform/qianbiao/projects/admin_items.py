"""The PM's project page in the admin, beyond the form: the label-config template of
the chosen task type, item uploads (CSV, XLSX or JSONL), and where the work stands
(distribution, the push to Label Studio, who may work on it, the project there).

Uploads follow the API's import rules: every row goes through ``items_import`` (the
projects service the API's upload calls), all or nothing, each bad row named by its
number in the file; an active project's distribution is enqueued once it commits.
Spreadsheets are read by ``core.tabular`` (the admin's one reader of CSV and XLSX).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.apps import apps
from django.conf import settings
from django.db import DataError, transaction
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from annotation import label_configs as lc
from qianbiao.core.tabular import SheetRow, TabularFormatError, sheet_read
from qianbiao.workforce.models import TaskType
from workers import enqueue

from .eligibility import eligible_annotators
from .items import ItemImportRejected, RowError, items_import
from .models import Assignment, AssignmentState, DatasetProject, DistributionRun, ProjectStatus

MAX_UPLOAD_BYTES = 64 << 20  # the admin's upload (the API streams up to its own limit)
MAX_JSONL_LINE = 1 << 20


def label_config_templates() -> dict[str, str]:
    """Task type -> the Label Studio template a new project of that type starts from
    (annotation.label_configs, with placeholder labels for the PM to rename)."""
    one, two, three = _("Class A"), _("Class B"), _("Class C")
    return {
        TaskType.TEXT_CLASSIFICATION: lc.text_classification([one, two, three]).xml,
        TaskType.NAMED_ENTITIES: lc.named_entities([one, two, three]).xml,
        TaskType.BOUNDING_BOX: lc.image_bounding_boxes([one, two, three]).xml,
        TaskType.POLYGON: lc.image_polygons([one, two, three]).xml,
        TaskType.TRANSCRIPTION: lc.speech_transcription().xml,
        TaskType.VIDEO_TRACKING: lc.video_object_tracking([one, two, three]).xml,
    }


# ------------------------------------------------------------------------- uploads


class ItemsUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Items file"),
        help_text=gettext_lazy(
            "CSV or XLSX with an external_id column (optional is_gold, gold_answer as JSON; every "
            "other column is item data), or JSONL, one item object a line as the API takes them."
        ),
    )


def _sheet_items(rows: list[SheetRow]) -> tuple[list[dict[str, Any]], list[RowError]]:
    """Spreadsheet rows as the API's item rows (the CSV upload's mapping)."""
    out, errors = [], []
    for row in rows:
        values = dict(row.values)
        item: dict[str, Any] = {"external_id": values.pop("external_id", "")}
        if "is_gold" in values:
            flag = values.pop("is_gold").strip().lower()
            item["is_gold"] = _BOOLEAN.get(flag, flag)  # anything else: "must be true or false"
        answer = values.pop("gold_answer", "")
        if answer.strip():
            try:
                item["gold_answer"] = json.loads(answer)
            except ValueError:
                errors.append(RowError(row.number, "gold_answer", _("not valid JSON")))
        item["data"] = values
        out.append(item)
    return out, errors


_BOOLEAN = {"true": True, "1": True, "yes": True, "": False, "false": False, "0": False, "no": False}


def _jsonl_items(content: bytes) -> tuple[list[Any], list[RowError]]:
    rows: list[Any] = []
    errors: list[RowError] = []
    for number, line in enumerate(content.split(b"\n"), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_JSONL_LINE:
            errors.append(RowError(number, "row", _("longer than %(n)d bytes") % {"n": MAX_JSONL_LINE}))
            continue
        try:
            rows.append(json.loads(line))
        except (ValueError, UnicodeDecodeError) as exc:
            errors.append(RowError(number, "row", _("not valid JSON: %(e)s") % {"e": exc}))
    return rows, errors


class UploadRefused(Exception):
    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} error(s)")


def _in_file(error: RowError, numbers: list[int] | None) -> RowError:
    """The import numbers rows 1.. as given; a spreadsheet's own numbers say more."""
    if numbers and 0 < error.row <= len(numbers):
        return RowError(numbers[error.row - 1], error.field, error.message)
    return error


def items_upload_file(*, project: DatasetProject, name: str, content: bytes) -> int:
    """Imports a file's items into ``project``, all or none; raises UploadRefused naming
    each bad row by its number in the file (a spreadsheet's header is row 1)."""
    if project.status == ProjectStatus.COMPLETED:
        raise UploadRefused([RowError(0, "file", _("A completed project takes no more items."))])
    if len(content) > MAX_UPLOAD_BYTES:
        raise UploadRefused([RowError(0, "file", _("At most %(n)d bytes.") % {"n": MAX_UPLOAD_BYTES})])
    if name.lower().endswith((".jsonl", ".ndjson")):
        rows, errors = _jsonl_items(content)
        numbers: list[int] | None = None
        if errors:
            raise UploadRefused(errors)
    else:
        try:
            _header, sheet = sheet_read(content=content, filename=name)
        except TabularFormatError as exc:
            raise UploadRefused([RowError(0, "file", str(exc))]) from None
        (rows, errors), numbers = _sheet_items(sheet), [row.number for row in sheet]
        if errors:
            raise UploadRefused(errors)
    try:
        with transaction.atomic():
            imported = items_import(project=project, rows=rows)
            if imported and project.status == ProjectStatus.ACTIVE:
                enqueue.distribute_project(project.pk)  # sent once the import commits
    except ItemImportRejected as exc:
        raise UploadRefused([_in_file(e, numbers) for e in exc.errors]) from None
    except DataError:
        raise UploadRefused(
            [RowError(0, "file", _("Some value cannot be stored; nothing was imported."))]
        ) from None
    if imported == 0:
        raise UploadRefused([RowError(0, "file", _("The file holds no items."))])
    return imported


# ------------------------------------------------------------------------ the status


def _label_studio_links(project: DatasetProject) -> str:
    # Read through the app registry: labelling sits above projects and is not imported here.
    shards = (
        apps.get_model("labelling", "LabelStudioProject").objects.filter(project=project).order_by("shard")
    )
    base = (settings.LABEL_STUDIO_PUBLIC_URL or "").rstrip("/")
    if not shards or not base:
        return _("not in Label Studio yet")
    return format_html_join(
        " · ", '<a href="{}/projects/{}/" target="_blank" rel="noopener">{} {}</a>',
        ((base, s.ls_project_id, _("Label Studio project"), s.ls_project_id) for s in shards),
    )  # fmt: skip


def project_work_status(project: DatasetProject) -> str:
    """Distribution and push at a glance, for the project's change page."""
    run = DistributionRun.objects.filter(project=project).order_by("-started_at").first()
    open_work = Assignment.objects.filter(project=project, state=AssignmentState.OPEN)
    pushed = open_work.filter(ls_task_id__isnull=False).count()
    total_open = open_work.count()
    last_run = (
        _("last run %(when)s: %(made)d assignments, %(eligible)d eligible")
        % {"when": run.started_at.strftime("%Y-%m-%d %H:%M"), "made": run.assignments_created,
           "eligible": run.eligible_annotators}
        if run else _("not distributed yet")
    )  # fmt: skip
    return format_html(
        "{}: {}<br>{}: {}<br>{}: {} / {}<br>{}: {}",
        _("eligible annotators now"), eligible_annotators(project=project).count(),
        _("distribution"), last_run,
        _("open assignments in Label Studio"), pushed, total_open,
        _("Label Studio"), _label_studio_links(project),
    )  # fmt: skip
