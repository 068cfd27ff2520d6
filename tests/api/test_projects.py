"""Projects over the API: scoped to the key's enterprise, cursor-paginated, and
every setting validated on the way in."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from qianbiao.api.keys import api_key_issue
from qianbiao.enterprises.models import EnterpriseRole
from qianbiao.projects.models import Assignment, DatasetProject, Item
from tests.api.conftest import LABEL_CONFIG, client_for
from tests.factories import DatasetProjectFactory, EnterpriseFactory, LanguageFactory

pytestmark = pytest.mark.django_db

VALID = {
    "name": "苗语语音转写",
    "domain": "minority_language",
    "task_type": "bounding_box",
    "label_config": LABEL_CONFIG,
    "overlap": 3,
    "gold_ratio": 0.05,
    "agreement_threshold": 0.8,
    "min_grade": "L3",
}


def test_create_returns_the_project_owned_by_the_caller(api_a, enterprise_a):
    response = api_a.post("/api/v1/projects/", VALID, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    project = DatasetProject.objects.get(pk=body["id"])
    assert project.client == enterprise_a
    assert body["gold_ratio"] == 0.05 and body["overlap"] == 3 and body["status"] == "active"
    assert api_a.get(f"/api/v1/projects/{project.pk}/").json() == body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"label_config": "<View><Image name='i' value='$image'>"}, "label_config"),  # not well-formed
        ({"label_config": "<Choices name='c' toName='t'/>"}, "label_config"),  # root is not View
        ({"label_config": "<View></View>"}, "label_config"),  # nothing in it
        ({"label_config": '<!DOCTYPE x [<!ENTITY a "b">]><View name="v">&a;</View>'}, "label_config"),
        ({"label_config": ""}, "label_config"),
        ({"overlap": 0}, "overlap"),
        ({"overlap": 11}, "overlap"),
        ({"gold_ratio": 0.9}, "gold_ratio"),
        ({"gold_ratio": 0.0001}, "gold_ratio"),  # more decimals than stored
        ({"agreement_threshold": 1.5}, "agreement_threshold"),
        ({"domain": "astrology"}, "domain"),
        ({"task_type": "mind_reading"}, "task_type"),
        ({"min_grade": "L9"}, "min_grade"),
        ({"min_skill_proficiency": 9}, "min_skill_proficiency"),
        ({"required_language": "xx-none"}, "required_language"),
        ({"daily_quota": 0}, "daily_quota"),
        ({"open_cap": -1}, "open_cap"),
        ({"assignment_ttl_hours": 0}, "assignment_ttl_hours"),
        ({"priority": 10**6}, "priority"),
        ({"status": "completed"}, "status"),
        ({"status": "paused"}, "status"),
        ({"deadline": (timezone.localdate() - dt.timedelta(days=1)).isoformat()}, "deadline"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_create_validates_every_setting(api_a, change, field):
    response = api_a.post("/api/v1/projects/", {**VALID, **change}, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"], error
    assert not DatasetProject.objects.exists()


def test_create_requires_the_essentials(api_a):
    response = api_a.post("/api/v1/projects/", {}, format="json")
    assert response.status_code == 400
    assert {"name", "domain", "task_type", "label_config"} <= set(response.json()["error"]["fields"])


def test_create_with_a_language_and_a_deadline(api_a):
    LanguageFactory(code="hmn")
    deadline = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    response = api_a.post(
        "/api/v1/projects/", {**VALID, "required_language": "hmn", "deadline": deadline}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["required_language"] == "hmn"
    assert response.json()["deadline"] == deadline


def test_an_operator_only_enterprise_cannot_create_projects(db):
    operator = EnterpriseFactory(role=EnterpriseRole.OPERATOR)
    api = client_for(api_key_issue(enterprise=operator, name="k").plaintext)
    response = api.post("/api/v1/projects/", VALID, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_list_shows_only_own_projects_through_cursor_pages(api_a, api_b, enterprise_a, enterprise_b):
    own = {DatasetProjectFactory(client=enterprise_a).pk for _ in range(7)}
    others = {DatasetProjectFactory(client=enterprise_b).pk for _ in range(3)}
    seen, url, pages = [], "/api/v1/projects/?page_size=3", 0
    while url:
        response = api_a.get(url)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        seen += [p["id"] for p in body["results"]]
        url, pages = body["next"], pages + 1
    assert pages == 3
    assert seen == sorted(own, reverse=True)  # newest first, each once
    assert {p["id"] for p in api_b.get("/api/v1/projects/").json()["results"]} == others


@pytest.mark.parametrize("position", [b"p=abc", b"p=1;DROP", b"o=1&p=-5", b"r=1&p=\x00"])
def test_a_forged_cursor_is_a_400_not_a_crash(api_a, position):
    cursor = base64.b64encode(position).decode()
    response = api_a.get("/api/v1/projects/", {"cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["fields"]
    assert api_a.get("/api/v1/projects/", {"page_size": "0"}).status_code == 400


def test_patch_changes_settings(api_a, project_a):
    response = api_a.patch(
        f"/api/v1/projects/{project_a.pk}/", {"priority": 5, "status": "paused", "overlap": 2}, format="json"
    )
    assert response.status_code == 200, response.json()
    project_a.refresh_from_db()
    assert (project_a.priority, project_a.status, project_a.overlap) == (5, "paused", 2)


def test_patch_validates_too(api_a, project_a):
    for change, field in [
        ({"overlap": 0}, "overlap"),
        ({"label_config": "<nope"}, "label_config"),
        ({"status": "completed"}, "status"),
        ({"gold_ratio": 2}, "gold_ratio"),
    ]:
        response = api_a.patch(f"/api/v1/projects/{project_a.pk}/", change, format="json")
        assert response.status_code == 400, change
        assert field in response.json()["error"]["fields"]
    project_a.refresh_from_db()
    assert project_a.overlap == 3 and project_a.status == "active"


def test_settings_that_work_depends_on_are_fixed_once_work_is_assigned(api_a, project_a, annotator):
    item = Item.objects.create(project=project_a, external_id="x", data={"image": "a"})
    now = timezone.now()
    Assignment.objects.create(
        project=project_a, item=item, annotator=annotator, slot=0, assigned_at=now, expires_at=now
    )
    response = api_a.patch(
        f"/api/v1/projects/{project_a.pk}/",
        {"overlap": 5, "label_config": LABEL_CONFIG.replace("car", "bus")},
        format="json",
    )
    assert response.status_code == 400
    assert {"overlap", "label_config"} <= set(response.json()["error"]["fields"])
    # Unchanged values and other settings are fine.
    response = api_a.patch(f"/api/v1/projects/{project_a.pk}/", {"overlap": 3, "priority": 2}, format="json")
    assert response.status_code == 200


def test_a_completed_project_cannot_be_reopened(api_a, project_a):
    DatasetProject.objects.filter(pk=project_a.pk).update(status="completed")
    response = api_a.patch(f"/api/v1/projects/{project_a.pk}/", {"status": "active"}, format="json")
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_malformed_json_is_a_parse_error(api_a):
    response = api_a.post("/api/v1/projects/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def label_studio_says_no(config: str) -> None:
    raise ValidationError("Label Studio says no")


def test_the_label_config_seam_calls_the_configured_validator(api_a, settings):
    settings.QIANBIAO_LABEL_CONFIG_VALIDATOR = "tests.api.test_projects.label_studio_says_no"
    response = api_a.post("/api/v1/projects/", VALID, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["label_config"] == ["Label Studio says no"]
    assert not DatasetProject.objects.exists()
