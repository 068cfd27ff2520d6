"""Item uploads: JSON, JSONL and CSV by content type; all or nothing with every
bad row reported; Idempotency-Key; a documented size limit."""

from __future__ import annotations

import hashlib
import io
import json
import threading

import pytest
from django.db import connection

from qianbiao.api.ingest import BodyTooLarge, BoundedBody
from qianbiao.api.models import IdempotencyRecord
from qianbiao.projects.models import Item
from tests.api.conftest import client_for, item_rows

pytestmark = pytest.mark.django_db


def url(project) -> str:
    return f"/api/v1/projects/{project.pk}/items/"


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def post(api, project, body: bytes, content_type: str, **headers):
    return api.generic("POST", url(project), body, content_type=content_type, headers=headers)


def imported(project) -> list[str]:
    return list(Item.objects.filter(project=project).order_by("id").values_list("external_id", flat=True))


# --- formats ------------------------------------------------------------------


def test_json_array(api_a, project_a):
    response = api_a.post(url(project_a), item_rows(3), format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {"project_id": project_a.pk, "imported": 3}
    assert imported(project_a) == ["i0", "i1", "i2"]


def test_json_object_with_items(api_a, project_a):
    body = {
        "items": item_rows(2) + [{"external_id": "g", "data": {"x": 1}, "is_gold": True, "gold_answer": [1]}]
    }
    response = api_a.post(url(project_a), body, format="json")
    assert response.status_code == 201, response.json()
    gold = Item.objects.get(project=project_a, external_id="g")
    assert gold.is_gold and gold.gold_answer == [1]


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/jsonl"])
def test_jsonl(api_a, project_a, content_type):
    body = jsonl(item_rows(3)) + b"\n"  # a trailing blank line is no row
    response = post(api_a, project_a, body, content_type)
    assert response.status_code == 201, response.json()
    assert imported(project_a) == ["i0", "i1", "i2"]


def test_csv_columns_and_data(api_a, project_a):
    body = (
        "\ufeffexternal_id,image,caption,is_gold,gold_answer\r\n"
        'a1,https://x/1.jpg,"苗绣, 红色",false,\r\n'
        'g1,https://x/2.jpg,"line\nbreak",true,"{""label"": ""car""}"\r\n'
    ).encode()
    response = post(api_a, project_a, body, "text/csv; charset=utf-8")
    assert response.status_code == 201, response.json()
    a1 = Item.objects.get(project=project_a, external_id="a1")
    g1 = Item.objects.get(project=project_a, external_id="g1")
    assert a1.data == {"image": "https://x/1.jpg", "caption": "苗绣, 红色"} and not a1.is_gold
    assert g1.data == {"image": "https://x/2.jpg", "caption": "line\nbreak"}
    assert g1.is_gold and g1.gold_answer == {"label": "car"}


def test_unsupported_content_type_is_415(api_a, project_a):
    response = post(api_a, project_a, b"external_id\nx\n", "text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_an_empty_upload_is_refused(api_a, project_a):
    response = post(api_a, project_a, b"[]", "application/json")
    assert response.status_code == 400
    assert "body" in response.json()["error"]["fields"]


# --- every bad row, nothing imported ----------------------------------------------


def test_bad_rows_are_all_reported_and_nothing_is_imported(api_a, project_a):
    api_a.post(url(project_a), item_rows(1, prefix="old"), format="json")
    lines = [
        json.dumps({"external_id": "ok1", "data": {"a": 1}}),
        "{not json",
        json.dumps({"external_id": "", "data": {}}),
        json.dumps({"external_id": "ok1", "data": {"a": 2}}),
        json.dumps({"external_id": "old0", "data": {"a": 3}}),
        json.dumps({"external_id": "g", "data": {"a": 4}, "is_gold": True}),
        json.dumps([1, 2]),
        json.dumps({"external_id": "ok2", "data": {"a": 5}, "colour": "red"}),
        json.dumps({"external_id": "ok3", "data": {"a": 6}}),
    ]
    response = post(api_a, project_a, ("\n".join(lines) + "\n").encode(), "application/x-ndjson")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_rows" and error["truncated"] is False
    rows = {(r["row"], r["field"]) for r in error["rows"]}
    assert rows == {
        (2, "row"),
        (3, "external_id"),
        (3, "data"),
        (4, "external_id"),
        (5, "external_id"),
        (6, "gold_answer"),
        (7, "row"),
        (8, "colour"),
    }
    reasons = {r["row"]: r["message"] for r in error["rows"]}
    assert "not valid JSON" in reasons[2]
    assert "repeats an earlier row" in reasons[4] and "imported before" in reasons[5]
    assert imported(project_a) == ["old0"]


def test_csv_bad_rows(api_a, project_a):
    body = b"external_id,image,is_gold,gold_answer\nok,a,false,\nbad,b,maybe,\ngold,c,true,{oops\nshort,d\n"
    response = post(api_a, project_a, body, "text/csv")
    assert response.status_code == 400
    rows = {(r["row"], r["field"]) for r in response.json()["error"]["rows"]}
    assert rows == {(2, "is_gold"), (3, "gold_answer"), (4, "row")}
    assert imported(project_a) == []


def test_csv_without_external_id_column(api_a, project_a):
    response = post(api_a, project_a, b"id,image\n1,a\n", "text/csv")
    assert response.status_code == 400
    assert response.json()["error"]["rows"][0]["field"] == "body"


def test_truncated_json_reports_where_it_broke(api_a, project_a):
    body = json.dumps(item_rows(3)).encode()[:-30]
    response = post(api_a, project_a, body, "application/json")
    assert response.status_code == 400
    rows = response.json()["error"]["rows"]
    assert rows[-1]["field"] == "body" and rows[-1]["row"] >= 3
    assert imported(project_a) == []


def test_an_oversized_line_is_a_bad_row_not_a_memory_blow_up(api_a, project_a):
    huge = json.dumps({"external_id": "big", "data": {"blob": "x" * (2 << 20)}})
    body = jsonl(item_rows(1)) + huge.encode() + b"\n" + jsonl(item_rows(1, start=5))
    response = post(api_a, project_a, body, "application/x-ndjson")
    assert response.status_code == 400
    assert [(r["row"], r["field"]) for r in response.json()["error"]["rows"]] == [(2, "row")]


# --- size limit -------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_and_imports_nothing(api_a, project_a, settings):
    settings.API_MAX_UPLOAD_BYTES = 1000
    body = jsonl(item_rows(50))
    assert len(body) > 1000
    response = post(api_a, project_a, body, "application/x-ndjson")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert imported(project_a) == []


def test_the_limit_holds_while_streaming_even_if_content_length_lies():
    body = BoundedBody(io.BytesIO(b"x" * 5000).read, limit=1000, digest=hashlib.sha256())
    with pytest.raises(BodyTooLarge):
        body.drain()


# --- idempotency -----------------------------------------------------------------


def test_same_key_same_body_replays_the_first_response(api_a, project_a):
    body = jsonl(item_rows(4))
    first = post(api_a, project_a, body, "application/x-ndjson", **{"Idempotency-Key": "batch-001"})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    again = post(api_a, project_a, body, "application/x-ndjson", **{"Idempotency-Key": "batch-001"})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert len(imported(project_a)) == 4


def test_same_key_different_body_is_422_and_imports_nothing(api_a, project_a):
    post(api_a, project_a, jsonl(item_rows(2)), "application/x-ndjson", **{"Idempotency-Key": "k1"})
    other = post(
        api_a, project_a, jsonl(item_rows(2, start=10)), "application/x-ndjson", **{"Idempotency-Key": "k1"}
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # The same rows sent as another media type are another request, too.
    as_json = api_a.post(url(project_a), item_rows(2), format="json", headers={"Idempotency-Key": "k1"})
    assert as_json.status_code == 422
    assert len(imported(project_a)) == 2


def test_a_failed_request_leaves_no_record_so_the_key_can_be_retried(api_a, project_a):
    bad = jsonl(item_rows(2)) + b"{broken\n"
    assert (
        post(api_a, project_a, bad, "application/x-ndjson", **{"Idempotency-Key": "fix-me"}).status_code
        == 400
    )
    assert not IdempotencyRecord.objects.exists()
    fixed = post(
        api_a, project_a, jsonl(item_rows(3)), "application/x-ndjson", **{"Idempotency-Key": "fix-me"}
    )
    assert fixed.status_code == 201
    assert len(imported(project_a)) == 3


def test_keys_are_scoped_per_enterprise(api_a, api_b, project_a, enterprise_b):
    from tests.factories import DatasetProjectFactory

    project_b = DatasetProjectFactory(client=enterprise_b)
    body = jsonl(item_rows(2))
    assert (
        post(api_a, project_a, body, "application/x-ndjson", **{"Idempotency-Key": "shared"}).status_code
        == 201
    )
    response = post(api_b, project_b, body, "application/x-ndjson", **{"Idempotency-Key": "shared"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert len(imported(project_b)) == 2


def test_a_bad_idempotency_key_is_400(api_a, project_a):
    response = post(
        api_a, project_a, jsonl(item_rows(1)), "application/x-ndjson", **{"Idempotency-Key": "a b"}
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_import_once(key_a, project_a):
    """Two requests race with the same key: one imports, the other waits for it
    on the key's unique index and then replays its answer."""
    body = jsonl(item_rows(20_000))
    results: list = []

    def send():
        try:
            api = client_for(key_a)
            results.append(post(api, project_a, body, "application/x-ndjson", **{"Idempotency-Key": "race"}))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(r.status_code for r in results) == [201, 201]
    assert sorted(r.get("Idempotent-Replayed", "") for r in results) == ["", "true"]
    assert results[0].json() == results[1].json()
    assert Item.objects.filter(project=project_a).count() == 20_000


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_of_the_same_ids_without_a_key_never_double_import(key_a, project_a):
    body = jsonl(item_rows(20_000))
    statuses: list[int] = []

    def send():
        try:
            statuses.append(post(client_for(key_a), project_a, body, "application/x-ndjson").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # One wins; the other is told its ids were imported (400) or collided mid-way (409).
    assert sorted(statuses)[0] == 201 and sorted(statuses)[1] in (400, 409)
    assert Item.objects.filter(project=project_a).count() == 20_000
