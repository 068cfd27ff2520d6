"""The projects admin: progress on the list, pause / resume / distribute now,
read-only work records, and a quality pause taking work back."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from qianbiao.programme.models import Grade
from qianbiao.projects.distribution import project_distribute
from qianbiao.projects.items import items_import
from qianbiao.projects.models import AnnotatorStanding, Assignment, DatasetProject, DistributionRun, Item
from qianbiao.workforce.services import SkillSpec
from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory
from workers import enqueue

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    facility = FacilityFactory(grade=Grade.L3)
    annotators = [
        AnnotatorFactory(facility=facility, skills=(SkillSpec("bounding_box", 2),)) for _ in range(2)
    ]
    project = DatasetProjectFactory(name="车辆标注", overlap=1, open_cap=3)
    items_import(project=project, rows=[{"external_id": f"a{k}", "data": {"k": k}} for k in range(10)])
    project_distribute(project_id=project.pk)  # 2 annotators x cap 3: 6 assigned, 4 pending
    project.annotators = annotators
    return project


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def test_every_projects_admin_page_renders(staff, project):
    assignment = Assignment.objects.first()
    for url in (
        reverse("admin:projects_datasetproject_changelist"),
        reverse("admin:projects_datasetproject_change", args=[project.pk]),
        reverse("admin:projects_item_changelist"),
        reverse("admin:projects_item_change", args=[assignment.item_id]),
        reverse("admin:projects_assignment_changelist") + f"?item__id__exact={assignment.item_id}",
        reverse("admin:projects_assignment_change", args=[assignment.pk]),
        reverse("admin:projects_distributionrun_changelist"),
        reverse("admin:projects_annotatorstanding_changelist"),
        reverse("admin:projects_annotatorstanding_add"),
    ):
        assert staff.get(url).status_code == 200, url


def test_the_project_list_shows_progress_counts(staff, project):
    page = staff.get(reverse("admin:projects_datasetproject_changelist"))
    row = page.context["cl"].result_list[0]
    model_admin = page.context["cl"].model_admin
    assert (model_admin.pending(row), model_admin.assigned(row), model_admin.accepted(row)) == (4, 6, 0)
    detail = staff.get(reverse("admin:projects_datasetproject_change", args=[project.pk]))
    assert _in_page_language("%(n)d ordinary items", detail) % {"n": 10} in detail.content.decode()


def test_work_records_are_read_only(staff, project):
    assignment = Assignment.objects.first()
    assert staff.get(reverse("admin:projects_assignment_add")).status_code == 403
    response = staff.post(reverse("admin:projects_assignment_delete", args=[assignment.pk]), {"post": "yes"})
    assert response.status_code == 403 and Assignment.objects.filter(pk=assignment.pk).exists()
    assert staff.get(reverse("admin:projects_item_add")).status_code == 403
    assert DistributionRun.objects.count() == 1


def _in_page_language(msgid: str, response) -> str:
    """The message as the page shows it, in whatever language it was served."""
    with translation.override(response.wsgi_request.LANGUAGE_CODE):
        return gettext(msgid)


def _act(staff, action, project):
    return staff.post(
        reverse("admin:projects_datasetproject_changelist"),
        {"action": action, "_selected_action": [project.pk]},
        follow=True,
    )


def test_pause_resume_and_distribute_now(staff, project, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _act(staff, "pause", project)
    assert DatasetProject.objects.get(pk=project.pk).status == "paused" and sent == []
    with django_capture_on_commit_callbacks(execute=True):
        page = _act(staff, "distribute_now", project)
    message = _in_page_language(
        "Distribution enqueued for %(n)d project(s); %(skipped)d not active, skipped.", page
    )
    assert sent == [] and message % {"n": 0, "skipped": 1} in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        _act(staff, "resume", project)  # resuming enqueues distribution by itself
    assert DatasetProject.objects.get(pk=project.pk).status == "active"
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (project.pk,))]
    with django_capture_on_commit_callbacks(execute=True):
        _act(staff, "distribute_now", project)
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (project.pk,))] * 2


def test_a_quality_pause_saved_in_the_admin_takes_work_back(
    staff, project, sent, django_capture_on_commit_callbacks
):
    annotator = project.annotators[0]
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            reverse("admin:projects_annotatorstanding_add"),
            {
                "project": project.pk,
                "annotator": annotator.pk,
                "quality_score": "0.41",
                "paused": "on",
                "paused_reason": "gold accuracy 41%",
            },
        )
    assert response.status_code == 302
    standing = AnnotatorStanding.objects.get()
    assert standing.paused and standing.paused_at is not None
    assert sent == [(enqueue.WITHDRAW_ANNOTATOR_WORK, (annotator.pk, project.pk))]
    assert Item.objects.filter(project=project).count() == 10
