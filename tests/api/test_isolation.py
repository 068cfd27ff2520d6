"""Tenant isolation, derived from the schema: every operation of the generated
OpenAPI document is called with enterprise B's key on enterprise A's objects and
must answer 404 — not 403, not data — and change nothing. A new endpoint is
covered the moment it is in the schema; a new kind of path parameter fails this
test until A's object for it is named below."""

from __future__ import annotations

import json
import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from qianbiao.api.callbacks import callback_endpoint_create
from qianbiao.api.models import CallbackDelivery, CallbackEndpoint
from qianbiao.projects.models import DatasetProject, Item
from tests.api.conftest import results_make

pytestmark = pytest.mark.django_db

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def schema_operations() -> list[tuple[str, str, dict]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method, operation)
        for path, item in sorted(schema["paths"].items())
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def body_for(operation: dict) -> tuple[bytes | None, str | None]:
    """A well-formed body, so that only ownership can make the request fail."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None, None
    if content["application/json"]["schema"].get("type") == "array":
        return json.dumps([{"external_id": "b-1", "data": {"image": "b.jpg"}}]).encode(), "application/json"
    return json.dumps({"name": "taken over", "description": "taken over"}).encode(), "application/json"


@pytest.fixture
def objects_of_a(project_a, enterprise_a):
    """A's objects, by the path parameter that names them."""
    results_make(project_a, 3)
    endpoint, _ = callback_endpoint_create(
        enterprise=enterprise_a, url="https://a.example/hook", events=["results.ready"]
    )
    CallbackDelivery.objects.create(
        endpoint=endpoint,
        event="results.ready",
        dedupe_key="x",
        payload={"secret": "of A"},
        next_attempt_at=project_a.created_at,
    )
    return {"project_id": project_a.pk, "callback_id": endpoint.pk}


def snapshot(enterprise):
    return (
        list(DatasetProject.objects.filter(client=enterprise).order_by("pk").values()),
        list(Item.objects.filter(project__client=enterprise).order_by("pk").values_list("pk", "external_id")),
        list(
            CallbackEndpoint.objects.filter(enterprise=enterprise)
            .order_by("pk")
            .values("pk", "url", "events", "is_active", "description")
        ),
    )


def call(api, method: str, path: str, operation: dict):
    body, content_type = body_for(operation)
    if body is None:
        return api.generic(method.upper(), path)
    return api.generic(method.upper(), path, body, content_type=content_type)


def test_every_operation_hides_a_from_b(api_a, api_b, enterprise_a, objects_of_a):
    operations = schema_operations()
    assert len(operations) >= 10
    before = snapshot(enterprise_a)
    secrets_of_a = {str(v) for v in objects_of_a.values()} | {"https://a.example/hook", "of A"}
    object_operations = []
    for path, method, operation in operations:
        params = re.findall(r"{(\w+)}", path)
        unknown = [p for p in params if p not in objects_of_a]
        assert not unknown, f"{method.upper()} {path}: name A's object for {unknown} in objects_of_a"
        url = path.format(**objects_of_a)
        response = call(api_b, method, url, operation)
        if params:
            object_operations.append((path, method, operation, url))
            assert response.status_code == 404, (method, url, response.status_code, response.content[:300])
            assert response.json()["error"]["code"] == "not_found"
        else:
            # No object in the path: a list or a create, answered from B's own data.
            assert response.status_code < 500, (method, url, response.content[:300])
        content = b"".join(response.streaming_content) if response.streaming else response.content
        for secret in secrets_of_a - {str(objects_of_a["project_id"]), str(objects_of_a["callback_id"])}:
            assert secret.encode() not in content, (method, url)
        if method == "get" and not params:
            ids = [row["id"] for row in response.json()["results"]]
            assert objects_of_a["project_id"] not in ids or "callbacks" in path
            assert objects_of_a["callback_id"] not in ids or "projects" in path
    assert snapshot(enterprise_a) == before, "B changed A's data"
    assert {path for path, *_ in object_operations} >= {
        "/api/v1/projects/{project_id}/",
        "/api/v1/projects/{project_id}/items/",
        "/api/v1/projects/{project_id}/progress",
        "/api/v1/projects/{project_id}/results",
        "/api/v1/callbacks/{callback_id}/",
        "/api/v1/callbacks/{callback_id}/deliveries/",
    }

    # The control: with A's own key the same requests reach the objects, so the
    # 404s above came from isolation, not from a broken route. Deletes go last.
    for _path, method, operation, url in sorted(object_operations, key=lambda op: op[1] == "delete"):
        response = call(api_a, method, url, operation)
        assert response.status_code in (200, 201, 204), (
            method,
            url,
            response.status_code,
            response.content[:300],
        )
