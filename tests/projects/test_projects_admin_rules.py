"""The admin's project form keeps the rules the API keeps (projects.services):
what the API refuses, the admin refuses on the same field and saves nothing.

Each case sends the same values both ways: as JSON to the API, as the admin's
form data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from qianbiao.api.keys import api_key_issue
from qianbiao.enterprises.models import EnterpriseRole
from qianbiao.projects.forms import PROJECT_FIELDS
from qianbiao.projects.models import Assignment, DatasetProject, Item
from tests.api.conftest import LABEL_CONFIG, client_for
from tests.factories import DatasetProjectFactory, EnterpriseFactory

pytestmark = pytest.mark.django_db

YESTERDAY = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
NEW = {
    "name": "苗语语音转写",
    "domain": "minority_language",
    "task_type": "bounding_box",
    "label_config": LABEL_CONFIG,
    "overlap": 3,
    "min_grade": "L3",
}
NOT_WELL_FORMED = "<View><Image name='i' value='$image'>"
NOT_A_VIEW = "<Choices name='c' toName='t'/>"
WITH_ENTITIES = '<!DOCTYPE x [<!ENTITY a "b">]><View name="v">&a;</View>'


@pytest.fixture(autouse=True)
def no_throttling(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100000/min", "api_import": "100000/min"},
    }
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def enterprise(db):
    return EnterpriseFactory(role=EnterpriseRole.CLIENT)


@pytest.fixture
def api(enterprise):
    return client_for(api_key_issue(enterprise=enterprise, name="ETL").plaintext)


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def project(enterprise):
    return DatasetProjectFactory(client=enterprise, label_config=LABEL_CONFIG, overlap=3)


def form_data(project: DatasetProject, **changes) -> dict[str, str]:
    """The admin form's POST for ``project`` with ``changes``, as a browser sends it."""
    values = {**model_to_dict(project, fields=PROJECT_FIELDS), **changes}
    return {name: "" if value is None else str(value) for name, value in values.items()}


def admin_add(staff, enterprise, change: dict):
    unsaved = DatasetProject(client=enterprise, **NEW)
    return staff.post(reverse("admin:projects_datasetproject_add"), form_data(unsaved, **change))


def admin_change(staff, project, change: dict):
    return staff.post(
        reverse("admin:projects_datasetproject_change", args=[project.pk]), form_data(project, **change)
    )


def form_errors(response) -> dict:
    assert response.status_code == 200, "the admin saved it"
    return response.context["adminform"].form.errors


def api_refuses(response, field: str) -> None:
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"label_config": NOT_WELL_FORMED}, "label_config"),
        ({"label_config": NOT_A_VIEW}, "label_config"),
        ({"label_config": "<View></View>"}, "label_config"),
        ({"label_config": WITH_ENTITIES}, "label_config"),
        ({"deadline": YESTERDAY}, "deadline"),
        ({"status": "paused"}, "status"),  # a project starts as draft or active
        ({"status": "completed"}, "status"),
    ],
)
def test_the_admin_refuses_a_new_project_the_api_refuses(staff, api, enterprise, change, field):
    api_refuses(api.post("/api/v1/projects/", {**NEW, **change}, format="json"), field)
    assert set(form_errors(admin_add(staff, enterprise, change))) == {field}
    assert not DatasetProject.objects.exists()


def test_the_admin_creates_a_valid_project_for_its_client(staff, enterprise):
    response = admin_add(staff, enterprise, {"deadline": timezone.localdate().isoformat()})
    assert response.status_code == 302
    project = DatasetProject.objects.get()
    assert (project.client, project.name, project.status) == (enterprise, NEW["name"], "active")


def test_an_operator_only_enterprise_owns_no_project_in_the_admin_either(staff, db):
    operator = EnterpriseFactory(role=EnterpriseRole.OPERATOR)
    api = client_for(api_key_issue(enterprise=operator, name="k").plaintext)
    assert api.post("/api/v1/projects/", NEW, format="json").status_code == 403
    assert set(form_errors(admin_add(staff, operator, {}))) == {"client"}
    project = DatasetProjectFactory()
    assert set(form_errors(admin_change(staff, project, {"client": operator.pk}))) == {"client"}
    assert DatasetProject.objects.get(pk=project.pk).client_id != operator.pk


def label_studio_says_no(config: str) -> None:
    raise ValidationError("Label Studio says no")


def test_the_admin_asks_the_label_config_seam_too(staff, enterprise, project, settings):
    settings.QIANBIAO_LABEL_CONFIG_VALIDATOR = "tests.projects.test_projects_admin_rules.label_studio_says_no"
    assert form_errors(admin_add(staff, enterprise, {}))["label_config"] == ["Label Studio says no"]
    changed = LABEL_CONFIG.replace("car", "bus")
    assert form_errors(admin_change(staff, project, {"label_config": changed}))["label_config"] == [
        "Label Studio says no"
    ]
    assert list(DatasetProject.objects.values_list("label_config", flat=True)) == [LABEL_CONFIG]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"label_config": NOT_WELL_FORMED}, "label_config"),
        ({"deadline": YESTERDAY}, "deadline"),
    ],
)
def test_the_admin_refuses_a_change_the_api_refuses(staff, api, project, change, field):
    api_refuses(api.patch(f"/api/v1/projects/{project.pk}/", change, format="json"), field)
    assert set(form_errors(admin_change(staff, project, change))) == {field}
    assert model_to_dict(DatasetProject.objects.get(pk=project.pk)) == model_to_dict(project)


def test_a_completed_project_is_not_reopened_in_the_admin(staff, api, project):
    DatasetProject.objects.filter(pk=project.pk).update(status="completed")
    project.refresh_from_db()
    api_refuses(api.patch(f"/api/v1/projects/{project.pk}/", {"status": "active"}, format="json"), "status")
    assert set(form_errors(admin_change(staff, project, {"status": "active"}))) == {"status"}
    assert DatasetProject.objects.get(pk=project.pk).status == "completed"
    # Nor by the list's resume action.
    staff.post(
        reverse("admin:projects_datasetproject_changelist"),
        {"action": "resume", "_selected_action": [project.pk]},
    )
    assert DatasetProject.objects.get(pk=project.pk).status == "completed"
    # Its other settings still change, as over the API.
    assert admin_change(staff, project, {"priority": 4}).status_code == 302
    assert DatasetProject.objects.get(pk=project.pk).priority == 4


def test_only_qianbiao_completes_a_project(staff, api, project):
    """The one difference between the callers: "completed" is Qianbiao's to decide."""
    api_refuses(
        api.patch(f"/api/v1/projects/{project.pk}/", {"status": "completed"}, format="json"), "status"
    )
    assert admin_change(staff, project, {"status": "completed"}).status_code == 302
    assert DatasetProject.objects.get(pk=project.pk).status == "completed"


def test_settings_work_depends_on_are_fixed_in_the_admin_once_work_is_assigned(
    staff, api, project, annotator
):
    item = Item.objects.create(project=project, external_id="x", data={"image": "a"})
    now = timezone.now()
    Assignment.objects.create(
        project=project, item=item, annotator=annotator, slot=0, assigned_at=now, expires_at=now
    )
    change = {"overlap": 5, "task_type": "polygon"}
    response = api.patch(f"/api/v1/projects/{project.pk}/", change, format="json")
    assert response.status_code == 400
    assert {"overlap", "task_type"} <= set(response.json()["error"]["fields"])
    assert set(form_errors(admin_change(staff, project, change))) == {"overlap", "task_type"}
    stored = DatasetProject.objects.get(pk=project.pk)
    assert (stored.overlap, stored.task_type) == (3, "bounding_box")
    # The same values, and other settings, are fine.
    assert admin_change(staff, project, {"overlap": 3, "priority": 2}).status_code == 302


def test_a_passed_deadline_left_as_it_was_does_not_block_other_changes(staff, api, project):
    DatasetProject.objects.filter(pk=project.pk).update(deadline=YESTERDAY)
    project.refresh_from_db()
    response = api.patch(
        f"/api/v1/projects/{project.pk}/", {"deadline": YESTERDAY, "priority": 1}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert admin_change(staff, project, {"priority": 3}).status_code == 302
    assert DatasetProject.objects.get(pk=project.pk).priority == 3


def test_the_lists_editable_priority_saves_through_the_service(staff, project):
    response = staff.post(
        reverse("admin:projects_datasetproject_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(project.pk),
            "form-0-priority": "7",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    assert DatasetProject.objects.get(pk=project.pk).priority == 7
