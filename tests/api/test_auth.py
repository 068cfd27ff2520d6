"""API keys: issued per enterprise (admin or command), stored hashed, shown once,
revocable; Token authentication; throttling per key; one error shape."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from qianbiao.api.keys import api_key_digest, api_key_issue, api_key_revoke
from qianbiao.api.models import ApiKey
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db


def _assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_no_key_is_401_with_the_error_shape(db):
    response = APIClient().get("/api/v1/projects/")
    _assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "header",
    [
        "Token",
        "Token a b",
        "Token qb_0123456789_" + "x" * 43,
        "Token not-a-key",
        "Token ключ",
        "Token qb_01234\x0056789_" + "x" * 43,  # a NUL must not reach the database
    ],
)
def test_bad_keys_are_401(db, header):
    response = APIClient().get("/api/v1/projects/", HTTP_AUTHORIZATION=header)
    _assert_error(response, 401, "authentication_failed")


def test_only_the_digest_is_stored_and_the_key_works(enterprise_a):
    issued = api_key_issue(enterprise=enterprise_a, name="crawler")
    row = ApiKey.objects.get(pk=issued.api_key.pk)
    assert row.key_hash == api_key_digest(issued.plaintext)
    secret = issued.plaintext.split("_", 2)[2]
    assert all(secret not in str(getattr(row, f.attname)) for f in ApiKey._meta.fields)
    assert issued.plaintext.startswith(f"qb_{row.prefix}_")
    response = client_for(issued.plaintext).get("/api/v1/projects/")
    assert response.status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_several_named_keys_and_revocation(enterprise_a):
    first = api_key_issue(enterprise=enterprise_a, name="ETL")
    second = api_key_issue(enterprise=enterprise_a, name="dashboard")
    with pytest.raises(ValidationError) as duplicate:
        api_key_issue(enterprise=enterprise_a, name="ETL")
    assert "name" in duplicate.value.message_dict
    api_key_revoke(api_key=first.api_key)
    _assert_error(client_for(first.plaintext).get("/api/v1/projects/"), 401, "authentication_failed")
    assert client_for(second.plaintext).get("/api/v1/projects/").status_code == 200
    # The name of a revoked key may be used again.
    assert api_key_issue(enterprise=enterprise_a, name="ETL").api_key.pk != first.api_key.pk


def test_a_tampered_key_with_a_real_prefix_is_refused(enterprise_a):
    issued = api_key_issue(enterprise=enterprise_a, name="ETL")
    tampered = issued.plaintext[:-1] + ("A" if issued.plaintext[-1] != "A" else "B")
    _assert_error(client_for(tampered).get("/api/v1/projects/"), 401, "authentication_failed")


def test_issue_api_key_command_prints_the_key_once(enterprise_a):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "issue_api_key", enterprise_a.credit_code.lower(), "--name", "nightly export", stdout=out, stderr=err
    )
    plaintext = out.getvalue().strip()
    key = ApiKey.objects.get(enterprise=enterprise_a, name="nightly export")
    assert key.key_hash == api_key_digest(plaintext)
    assert plaintext not in err.getvalue()
    assert client_for(plaintext).get("/api/v1/projects/").status_code == 200
    with pytest.raises(CommandError, match="No enterprise"):
        call_command("issue_api_key", "91520100MA6DJ0000X", "--name", "x", stdout=io.StringIO())


def test_admin_issues_a_key_and_shows_it_only_once(client, admin_user, enterprise_a):
    client.force_login(admin_user)
    response = client.post("/admin/api/apikey/add/", {"enterprise": enterprise_a.pk, "name": "ETL server"})
    assert response.status_code == 200
    key = ApiKey.objects.get(enterprise=enterprise_a, name="ETL server")
    html = response.content.decode()
    plaintext = html.split('<code id="api-key"')[1].split(">", 1)[1].split("<", 1)[0]
    assert api_key_digest(plaintext) == key.key_hash
    assert "no-store" in response["Cache-Control"]
    # Nowhere afterwards: not on the change page, not in the list.
    for url in (f"/admin/api/apikey/{key.pk}/change/", "/admin/api/apikey/"):
        page = client.get(url)
        assert page.status_code == 200
        assert plaintext.split("_", 2)[2] not in page.content.decode()
    # Revoked from the list, and the key stops working.
    client.post("/admin/api/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client_for(plaintext).get("/api/v1/projects/").status_code == 401


def test_throttling_is_per_key(api_settings, enterprise_a):
    api_settings.REST_FRAMEWORK = {
        **api_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/min", "api_import": "3/min"},
    }
    first = client_for(api_key_issue(enterprise=enterprise_a, name="one").plaintext)
    second = client_for(api_key_issue(enterprise=enterprise_a, name="two").plaintext)
    assert [first.get("/api/v1/projects/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = first.get("/api/v1/projects/")
    error = _assert_error(throttled, 429, "throttled")
    assert int(throttled["Retry-After"]) > 0
    assert error["retry_after"] > 0
    # Another key of the same enterprise has its own budget.
    assert second.get("/api/v1/projects/").status_code == 200


def test_unknown_api_path_is_a_json_404(api_a):
    _assert_error(api_a.get("/api/v1/nothing-here/"), 404, "not_found")


def test_options_and_put_are_not_allowed(api_a, project_a):
    _assert_error(
        api_a.put(f"/api/v1/projects/{project_a.pk}/", {}, format="json"), 405, "method_not_allowed"
    )
