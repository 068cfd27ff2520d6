"""The PM's project page: a new project starts from its task type's template, items are
uploaded through the import rules (all or nothing, the bad row named by its number in
the file), and the page says where the work stands."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from qianbiao.projects.admin_items import label_config_templates
from qianbiao.projects.models import DatasetProject, Item
from tests.factories import EnterpriseFactory
from workers import enqueue

pytestmark = pytest.mark.django_db


@pytest.fixture
def pm(client, project_manager):
    client.force_login(project_manager)
    return client


def _csv(rows: int, bad_row: int | None = None) -> bytes:
    lines = ["external_id,text"]
    for n in range(1, rows + 1):
        lines.append(f"{'' if n == bad_row else f'r{n}'},第{n}条评论")
    return ("\n".join(lines) + "\n").encode()


def _create_from_template(pm) -> DatasetProject:
    add = reverse("admin:projects_datasetproject_add")
    page = pm.get(add + "?task_type=named_entities")
    form = page.context["adminform"].form
    assert form.initial["label_config"] == label_config_templates()["named_entities"], "pre-filled"
    assert form.initial["label_config"].startswith("<View>") and "<Labels" in form.initial["label_config"]
    # Every task type's template travels with the select, for the page to swap in.
    templates = json.loads(form.fields["task_type"].widget.attrs["data-label-config-templates"])
    assert set(templates) >= {"text_classification", "bounding_box", "transcription"}
    assert "<Labels" in templates["named_entities"]
    client = EnterpriseFactory()
    data = {
        "client": client.pk, "name": "病历实体", "domain": "medical", "task_type": "named_entities",
        "label_config": form.initial["label_config"], "status": "active", "priority": 0, "overlap": 1,
        "gold_ratio": "0", "agreement_threshold": "0.7", "daily_quota": 500, "open_cap": 100,
        "assignment_ttl_hours": 24, "min_grade": "L3", "min_skill_proficiency": 1,
        "min_language_proficiency": 2,
    }  # fmt: skip
    response = pm.post(add, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return DatasetProject.objects.get(name="病历实体")


def test_a_pm_creates_a_project_from_its_template_and_uploads_1000_rows(
    pm, django_capture_on_commit_callbacks, sent
):
    project = _create_from_template(pm)
    sent.clear()
    upload = reverse("admin:projects_datasetproject_items_upload", args=[project.pk])
    change = pm.get(reverse("admin:projects_datasetproject_change", args=[project.pk]))
    assert upload in change.content.decode(), "the project page links its upload"

    with django_capture_on_commit_callbacks(execute=True):
        refused = pm.post(upload, {"file": SimpleUploadedFile("items.csv", _csv(1000, bad_row=537))})
    assert refused.status_code == 200
    errors = refused.context["errors"]
    # Row 538 of the file: the header is row 1, as a spreadsheet shows it.
    assert [(e.row, e.field) for e in errors] == [(538, "external_id")]
    assert "538" in refused.content.decode()
    assert Item.objects.filter(project=project).count() == 0, "nothing imported"
    assert sent == [], "nothing enqueued"

    with django_capture_on_commit_callbacks(execute=True):
        done = pm.post(upload, {"file": SimpleUploadedFile("items.csv", _csv(1000))})
    assert done.status_code == 302
    assert Item.objects.filter(project=project).count() == 1000
    assert Item.objects.get(project=project, external_id="r537").data == {"text": "第537条评论"}
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (project.pk,))], "distribution, once the import committed"

    page = pm.get(reverse("admin:projects_datasetproject_change", args=[project.pk]))
    status = page.context["adminform"].form.instance
    assert status.pk == project.pk and "work_status" in page.context["adminform"].readonly_fields
    assert "not in Label Studio yet" in page.content.decode() or "Label Studio" in page.content.decode()


def test_xlsx_and_jsonl_uploads_follow_the_same_rules(pm, sent):
    project = _create_from_template(pm)
    upload = reverse("admin:projects_datasetproject_items_upload", args=[project.pk])
    book = Workbook()
    sheet = book.active
    sheet.append(["external_id", "text", "is_gold", "gold_answer"])
    sheet.append(["x1", "一", "no", ""])
    sheet.append(["x2", "二", "maybe", ""])
    sheet.append(["x3", "三", "yes", "not json"])
    content = io.BytesIO()
    book.save(content)
    refused = pm.post(upload, {"file": SimpleUploadedFile("items.xlsx", content.getvalue())})
    assert sorted((e.row, e.field) for e in refused.context["errors"]) == [(4, "gold_answer")]
    sheet.delete_rows(4)
    content = io.BytesIO()
    book.save(content)
    refused = pm.post(upload, {"file": SimpleUploadedFile("items.xlsx", content.getvalue())})
    assert [(e.row, e.field) for e in refused.context["errors"]] == [(3, "is_gold")]
    assert not Item.objects.filter(project=project).exists()

    body = b'{"external_id": "j1", "data": {"text": "a"}}\n{"external_id": "j2", "data": {}}\n'
    refused = pm.post(upload, {"file": SimpleUploadedFile("items.jsonl", body)})
    assert [(e.row, e.field) for e in refused.context["errors"]] == [(2, "data")]
    body = b'{"external_id": "j1", "data": {"text": "a"}}\n{"external_id": "j2", "data": {"text": "b"}}\n'
    assert pm.post(upload, {"file": SimpleUploadedFile("items.jsonl", body)}).status_code == 302
    assert set(Item.objects.filter(project=project).values_list("external_id", flat=True)) == {"j1", "j2"}
