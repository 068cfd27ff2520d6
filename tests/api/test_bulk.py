"""The PostgreSQL fast path for JSONL uploads stores exactly what the ordinary
path stores, and hands anything it is unsure of to the ordinary path."""

from __future__ import annotations

import json

import pytest

from qianbiao.api import bulk
from qianbiao.projects.items import items_import
from qianbiao.projects.models import Item
from tests.factories import DatasetProjectFactory

pytestmark = pytest.mark.django_db

ROWS = [
    {"external_id": "plain", "data": {"image": "a.jpg"}},
    {
        "external_id": "中文编号-1",
        "data": {"text": "苗族刺绣\t\u3000", "n": 3, "f": 0.5, "nested": {"x": [1, None]}},
    },
    {"external_id": "g1", "data": {"x": 1}, "is_gold": True, "gold_answer": {"label": "car"}},
    {"external_id": "g0", "data": {"x": 1}, "is_gold": False, "gold_answer": None},
    {"external_id": 'quote"back\\slash', "data": {"s": 'line\nbreak \\ " \r'}},
    {"external_id": "x" * 200, "data": {"k": True}},
]


def stored(project) -> list[tuple]:
    return list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("external_id", "data", "is_gold", "gold_answer", "state")
    )


def upload(api, project, body: bytes):
    return api.generic(
        "POST", f"/api/v1/projects/{project.pk}/items/", body, content_type="application/x-ndjson"
    )


@pytest.fixture
def spy(monkeypatch):
    """Counts how often the ordinary path runs behind the fast one."""
    calls = []
    original = bulk.items_import

    def wrapped(**kwargs):
        calls.append(1)
        return original(**kwargs)

    monkeypatch.setattr(bulk, "items_import", wrapped)
    return calls


def test_fast_path_stores_what_the_ordinary_path_stores(api_a, project_a, enterprise_a, spy):
    body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\r\n" for r in ROWS) + b"\n  \n"
    response = upload(api_a, project_a, body)
    assert response.status_code == 201, response.json()
    assert response.json()["imported"] == len(ROWS)
    assert spy == []  # all of it on the fast path
    reference = DatasetProjectFactory(client=enterprise_a)
    items_import(project=reference, rows=ROWS)
    assert stored(project_a) == stored(reference)


@pytest.mark.parametrize(
    "row",
    [
        {"external_id": "  padded\u3000", "data": {"a": 1}},  # the ordinary path strips it
        {"external_id": 12345, "data": {"a": 1}},  # an integer id becomes a string
    ],
)
def test_rows_the_check_is_unsure_of_go_the_ordinary_way_and_still_import(api_a, project_a, spy, row):
    body = json.dumps({"external_id": "first", "data": {"a": 0}}).encode() + b"\n" + json.dumps(row).encode()
    response = upload(api_a, project_a, body)
    assert response.status_code == 201, response.json()
    assert spy == [1]
    assert [e for e, *_ in stored(project_a)] == ["first", str(row["external_id"]).strip()]


def test_bad_bytes_mid_stream_switch_paths_and_every_row_is_reported(api_a, project_a, spy):
    good = b"".join(
        json.dumps({"external_id": f"r{k}", "data": {"p": "x" * 200}}).encode() + b"\n" for k in range(3000)
    )
    body = (
        good
        + b'{"external_id": "bad", "data": {"a": "\xff\xfe"}}\n'
        + b'{"external_id": "nul\x00", "data": {}}\n'
        + good
    )
    response = upload(api_a, project_a, body)
    assert response.status_code == 400
    rows = response.json()["error"]["rows"]
    assert (rows[0]["row"], rows[0]["field"]) == (3001, "row") and "utf-8" in rows[0]["message"]
    assert (rows[1]["row"], rows[1]["field"]) == (3002, "row") and "JSON" in rows[1]["message"]
    # The second copy of the good rows repeats the first: reported up to the cap.
    assert len(rows) == 1000 and rows[2] == {
        "row": 3003,
        "field": "external_id",
        "message": "'r0' repeats an earlier row",
    }
    assert response.json()["error"]["truncated"] is True
    assert spy == [1] and stored(project_a) == []


def test_a_line_longer_than_a_chunk_takes_the_ordinary_path(api_a, project_a, spy):
    long_row = {"external_id": "long", "data": {"blob": "y" * (2 * bulk.CHUNK + 10)}}
    body = (
        json.dumps({"external_id": "a", "data": {"x": 1}}).encode()
        + b"\n"
        + json.dumps(long_row).encode()
        + b"\n"
    )
    response = upload(api_a, project_a, body)
    assert response.status_code == 201, response.json()
    assert spy == [1] and len(stored(project_a)) == 2


def test_values_postgresql_cannot_store_are_a_400(api_a, project_a):
    response = upload(api_a, project_a, b'{"external_id": "z", "data": {"a": "\\u0000"}}\n')
    assert response.status_code == 400
    assert "body" in response.json()["error"]["fields"]
    response = upload(api_a, project_a, b'{"external_id": "n", "data": {"a": NaN}}\n')
    assert response.status_code == 400
    assert response.json()["error"]["rows"][0]["row"] == 1
    assert stored(project_a) == []
