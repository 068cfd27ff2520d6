"""Schemathesis against the live schema (fetched from /api/schema/ through the
WSGI app, in-process): generated requests — valid and invalid, on real objects
of the caller's enterprise — never get a 5xx, and every answer conforms to the
schema (status codes, content types, headers, bodies)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.core.parameters import ParameterLocation

from qianbiao.api.callbacks import callback_endpoint_create
from tests.api.conftest import results_make

# Loaded at collection (Django is set up by then; serving the schema needs no
# database): one parametrized test per operation of the live schema.
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())


@pytest.fixture(autouse=True)
def connections_kept(db):
    """Django's WSGI handler inside the test transaction: like the test client,
    it must not close the connection at each request's start and end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


CURRENT_KEY: list[str] = []


@schema.auth(refresh_interval=None)
class EnterpriseKey:
    """A's key on every request — except where Schemathesis tests what happens
    without valid credentials (it then leaves this provider out)."""

    def get(self, case, context):
        return CURRENT_KEY[-1] if CURRENT_KEY else ""  # (also asked while collecting)

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}


@pytest.fixture
def world(enterprise_a, key_a, project_a):
    """Real objects for the generated requests to land on."""
    CURRENT_KEY.append(key_a)
    results_make(project_a, 5)
    endpoint, _ = callback_endpoint_create(
        enterprise=enterprise_a, url="https://a.example/hook", events=["results.ready"]
    )
    return {"key": key_a, "project_id": project_a.pk, "callback_id": endpoint.pk}


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_server_errors_and_schema_conformance(case, world):
    # Half the valid cases on A's real objects, the rest on the ids generated.
    if not case.meta.is_negative_at(ParameterLocation.PATH):
        for name in ("project_id", "callback_id"):
            if name in (case.path_parameters or {}) and hash(str(case.path_parameters[name])) % 2 == 0:
                case.path_parameters[name] = world[name]
    # Every other check runs. positive_data_acceptance is left out: it expects any
    # schema-valid body to succeed, but a label config must be a real one, a
    # language must exist and an external_id must be new — rules a schema cannot say.
    case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])
