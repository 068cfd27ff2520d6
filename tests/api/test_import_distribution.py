"""A successful item import of an active project enqueues that project's
distribution once its transaction commits — whatever the body's format, the
JSONL fast path included — so new items do not wait for the beat sweep. A failed
or rolled-back import, an idempotent replay, and a project that is not active
enqueue nothing.

Messages are captured where they leave (workers.enqueue._send), so the real
``enqueue.distribute_project`` → ``transaction.on_commit`` path runs; the broker
itself is covered by the integration tests."""

from __future__ import annotations

import io
import json

import pytest
from django.db import transaction

from qianbiao.api import bulk, services
from qianbiao.api.ingest import JSONL, BoundedBody
from qianbiao.api.models import IdempotencyRecord
from qianbiao.projects.models import Item, ProjectStatus
from tests.api.conftest import item_rows
from tests.factories import DatasetProjectFactory
from workers import enqueue

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_path_calls(monkeypatch):
    """How often the JSONL fast path hands over to the ordinary import."""
    calls: list[int] = []
    original = bulk.items_import

    def wrapped(**kwargs):
        calls.append(1)
        return original(**kwargs)

    monkeypatch.setattr(bulk, "items_import", wrapped)
    return calls


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def csv_body(rows) -> bytes:
    return (
        "external_id,image\r\n" + "".join(f"{r['external_id']},{r['data']['image']}\r\n" for r in rows)
    ).encode()


BODIES = {
    "json": (lambda rows: json.dumps(rows).encode(), "application/json"),
    "jsonl": (jsonl, "application/x-ndjson"),
    "jsonl-alt": (jsonl, "application/jsonl"),
    "csv": (csv_body, "text/csv"),
}


def post(api, project, body: bytes, content_type: str, **headers):
    return api.generic(
        "POST", f"/api/v1/projects/{project.pk}/items/", body, content_type=content_type, headers=headers
    )


def distribution_of(project) -> list[tuple[str, tuple]]:
    return [(enqueue.DISTRIBUTE_PROJECT, (project.pk,))]


@pytest.mark.parametrize("fmt", sorted(BODIES))
def test_an_import_enqueues_distribution_on_commit(
    api_a, project_a, sent, fmt, fast_path_calls, django_capture_on_commit_callbacks
):
    encode, content_type = BODIES[fmt]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(api_a, project_a, encode(item_rows(3)), content_type)
    assert response.status_code == 201, response.json()
    assert sent == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert sent == distribution_of(project_a)
    if fmt.startswith("jsonl"):
        assert fast_path_calls == []  # the COPY fast path did the import


@pytest.mark.parametrize(
    "row",
    [
        {"external_id": " padded ", "data": {"image": "p.jpg"}},  # the fast check refuses it
        {"external_id": "long", "data": {"text": "x" * (3 * bulk.CHUNK)}},  # too long for COPY as-is
    ],
    ids=["refused-by-the-check", "long-line"],
)
def test_a_jsonl_upload_the_fast_path_hands_over_enqueues_once(
    api_a, project_a, sent, row, fast_path_calls, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(api_a, project_a, jsonl([*item_rows(2), row]), "application/x-ndjson")
    assert response.status_code == 201, response.json()
    assert fast_path_calls == [1]  # the ordinary path finished the import
    assert len(callbacks) == 1
    assert sent == distribution_of(project_a)
    assert Item.objects.filter(project=project_a).count() == 3


def test_an_idempotent_replay_enqueues_nothing_again(
    api_a, project_a, sent, django_capture_on_commit_callbacks
):
    body = jsonl(item_rows(4))
    with django_capture_on_commit_callbacks(execute=True):
        first = post(api_a, project_a, body, "application/x-ndjson", **{"Idempotency-Key": "batch-1"})
    assert first.status_code == 201
    assert sent == distribution_of(project_a)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = post(api_a, project_a, body, "application/x-ndjson", **{"Idempotency-Key": "batch-1"})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert callbacks == []
    assert sent == distribution_of(project_a)  # still the first one only
    assert Item.objects.filter(project=project_a).count() == 4


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (jsonl(item_rows(2)) + b"{broken\n", "application/x-ndjson"),  # fast path, then a bad row
        (jsonl(item_rows(1) * 2), "application/x-ndjson"),  # a repeated external_id
        (json.dumps([{"external_id": "x"}]).encode(), "application/json"),  # no data
        (b"external_id,image\r\n", "text/csv"),  # no items at all
    ],
    ids=["bad-jsonl", "repeated-id", "bad-json", "empty-csv"],
)
def test_a_failed_import_enqueues_nothing(
    api_a, project_a, sent, body, content_type, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(api_a, project_a, body, content_type, **{"Idempotency-Key": "k"})
    assert response.status_code == 400
    assert callbacks == [] and sent == []
    assert not Item.objects.filter(project=project_a).exists()
    assert not IdempotencyRecord.objects.exists()


def test_an_import_rolled_back_after_it_succeeded_enqueues_nothing(
    api_a, project_a, sent, monkeypatch, django_capture_on_commit_callbacks
):
    """The items went in, but the idempotency record could not be written: the
    whole request rolls back, and so does its message."""

    save = IdempotencyRecord.save

    def refuse(self, *args, **kwargs):
        if kwargs.get("update_fields"):  # the answer, written after the import
            raise RuntimeError("the record cannot be saved")
        return save(self, *args, **kwargs)

    monkeypatch.setattr(IdempotencyRecord, "save", refuse)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        post(api_a, project_a, jsonl(item_rows(3)), "application/x-ndjson", **{"Idempotency-Key": "k"})
    assert callbacks == [] and sent == []
    assert not Item.objects.filter(project=project_a).exists()


def test_the_service_enqueues_with_its_callers_transaction(
    project_a, sent, django_capture_on_commit_callbacks
):
    class Boom(Exception):
        pass

    def body(rows) -> BoundedBody:
        data = jsonl(rows)
        return BoundedBody(io.BytesIO(data).read, limit=len(data))

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        services.items_upload(project=project_a, body=body(item_rows(2)), fmt=JSONL)
        raise Boom
    assert callbacks == [] and sent == []

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        services.items_upload(project=project_a, body=body(item_rows(2)), fmt=JSONL)
        assert sent == []  # still inside the caller's transaction
    assert len(callbacks) == 1
    assert sent == distribution_of(project_a)


@pytest.mark.parametrize("status", [ProjectStatus.DRAFT, ProjectStatus.PAUSED])
def test_a_project_that_is_not_active_is_not_distributed(
    api_a, enterprise_a, sent, status, django_capture_on_commit_callbacks
):
    project = DatasetProjectFactory(client=enterprise_a, status=status)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api_a, project, jsonl(item_rows(2)), "application/x-ndjson")
    assert response.status_code == 201
    assert sent == []
