"""The OpenAPI schema generates cleanly and the docs need nothing from a CDN."""

from __future__ import annotations

import re

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings_or_errors(tmp_path):
    out = tmp_path / "schema.yaml"
    # --fail-on-warn turns any warning (an unguessable serializer, an enum clash,
    # an untyped path parameter) into an error; --validate checks OpenAPI 3 itself.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/projects/",
        "/api/v1/projects/{project_id}/",
        "/api/v1/projects/{project_id}/items/",
        "/api/v1/projects/{project_id}/progress",
        "/api/v1/projects/{project_id}/results",
        "/api/v1/callbacks/",
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "Authorization"


def test_schema_is_served_without_a_key():
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["info"]["title"].startswith("Qianbiao")


def test_docs_load_their_assets_from_this_server():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("drf_spectacular_sidecar" in s for s in sources), sources
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))], sources
