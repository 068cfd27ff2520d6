"""Progress (counts, agreement, estimated completion) and the results stream
(json, jsonl, csv; incremental by ``since``; constant memory)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tracemalloc
from urllib.parse import quote

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.utils import timezone

from qianbiao.projects.items import items_import
from qianbiao.projects.models import Item, ItemState
from qianbiao.quality.models import Result
from tests.api.conftest import item_rows, results_make

pytestmark = pytest.mark.django_db


def test_progress_counts_agreement_and_estimated_completion(api_a, project_a):
    now = timezone.now()
    # 10 results in the last 24 hours, 30 items still to do, 2 gold items.
    results_make(project_a, 10, agreement=0.6, when=now - dt.timedelta(hours=1))
    Result.objects.filter(project=project_a, item__external_id__in=["r0", "r1", "r2", "r3"]).update(
        agreement=1.0
    )
    items_import(project=project_a, rows=item_rows(30, prefix="todo"))
    items_import(
        project=project_a,
        rows=[
            {"external_id": f"g{k}", "data": {"x": k}, "is_gold": True, "gold_answer": 1} for k in range(2)
        ],
    )
    Item.objects.filter(project=project_a, external_id__in=["todo0", "todo1"]).update(
        state=ItemState.ASSIGNED
    )
    response = api_a.get(f"/api/v1/projects/{project_a.pk}/progress")
    assert response.status_code == 200
    body = response.json()
    assert body["items"]["total"] == 40 and body["items"]["gold"] == 2 and body["items"]["remaining"] == 30
    assert body["items"]["by_state"] == {
        "pending": 28,
        "assigned": 2,
        "annotated": 0,
        "accepted": 10,
        "review": 0,
    }
    assert body["results"] == {"total": 10, "by_method": {"majority_vote": 10}}
    agreement = body["agreement"]
    assert agreement["mean"] == pytest.approx((4 * 1.0 + 6 * 0.6) / 10)
    assert agreement["at_or_above_threshold"] == 4  # the factory's threshold is 0.7
    # 10 results since the first one an hour ago: 10/h; 30 left, so about 3 hours.
    assert body["throughput"]["results_per_hour"] == pytest.approx(10, rel=0.01)
    eta = dt.datetime.fromisoformat(body["estimated_completion_at"])
    assert abs((eta - now).total_seconds() - 3 * 3600) < 120


def test_progress_without_pace_has_no_estimate(api_a, project_a):
    items_import(project=project_a, rows=item_rows(5))
    body = api_a.get(f"/api/v1/projects/{project_a.pk}/progress").json()
    assert body["estimated_completion_at"] is None
    assert body["agreement"]["mean"] is None and body["throughput"]["results_per_hour"] == 0


def _content(response) -> bytes:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content)


FIELDS = (
    "external_id",
    "label",
    "method",
    "agreement",
    "annotations_used",
    "decided_at",
    "updated_at",
    "confidence",
    "status",
)


def test_results_in_json_jsonl_and_csv(api_a, project_a):
    results_make(project_a, 3, confidence=0.875)
    base = f"/api/v1/projects/{project_a.pk}/results"
    as_json = json.loads(_content(api_a.get(base)))
    assert [r["external_id"] for r in as_json] == ["r0", "r1", "r2"]
    assert as_json[0]["label"] == {"choice": "car", "n": 0}
    assert as_json[0]["method"] == "majority_vote" and as_json[0]["agreement"] == 0.9
    assert as_json[0]["confidence"] == 0.875 and as_json[0]["status"] == "accepted"
    assert set(as_json[0]) == set(FIELDS)

    response = api_a.get(base + "?format=jsonl")
    assert response["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in _content(response).decode().splitlines()]
    assert lines == as_json

    response = api_a.get(base + "?format=csv")
    assert response["Content-Type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(_content(response).decode()))
    rows = list(reader)
    # The original columns keep their places; the new ones come last.
    assert tuple(reader.fieldnames) == FIELDS
    assert [r["external_id"] for r in rows] == ["r0", "r1", "r2"]
    assert json.loads(rows[1]["label"]) == {"choice": "car", "n": 1}
    assert float(rows[2]["agreement"]) == 0.9
    assert float(rows[2]["confidence"]) == 0.875 and rows[2]["status"] == "accepted"


def test_results_of_an_empty_project(api_a, project_a):
    base = f"/api/v1/projects/{project_a.pk}/results"
    assert json.loads(_content(api_a.get(base))) == []
    assert _content(api_a.get(base + "?format=jsonl")) == b""
    assert _content(api_a.get(base + "?format=csv")).decode().strip() == (
        "external_id,label,method,agreement,annotations_used,decided_at,updated_at,confidence,status"
    )


def test_since_gives_incremental_pulls_without_gaps_or_repeats(api_a, project_a, settings):
    settings.API_RESULTS_LAG_SECONDS = 0
    base = f"/api/v1/projects/{project_a.pk}/results?format=jsonl"
    results_make(project_a, 4, prefix="a", when=timezone.now() - dt.timedelta(hours=2))
    first = api_a.get(base)
    pulled = [json.loads(line)["external_id"] for line in _content(first).decode().splitlines()]
    assert pulled == ["a0", "a1", "a2", "a3"]
    mark = first["X-Next-Since"]

    # After that pull: new results, and one old result decided again.
    results_make(project_a, 2, prefix="b", when=timezone.now())
    Result.objects.filter(item__external_id="a1").update(updated_at=timezone.now())
    second = api_a.get(base + "&since=" + quote(mark))
    pulled = [json.loads(line)["external_id"] for line in _content(second).decode().splitlines()]
    assert pulled == ["b0", "b1", "a1"]

    third = api_a.get(base + "&since=" + quote(second["X-Next-Since"]))
    assert _content(third) == b""


def test_the_window_ends_a_little_in_the_past(api_a, project_a, settings):
    """A result stamped just now may belong to a transaction not yet committed
    everywhere: it waits for the next pull rather than risk being skipped."""
    settings.API_RESULTS_LAG_SECONDS = 60
    results_make(project_a, 1, prefix="now", when=timezone.now())
    response = api_a.get(f"/api/v1/projects/{project_a.pk}/results")
    assert json.loads(_content(response)) == []
    assert dt.datetime.fromisoformat(response["X-Next-Since"]) < timezone.now() - dt.timedelta(seconds=59)


def test_every_encoding_carries_the_stored_values(project_a):
    """What the database encodes (COPY) is what the rows hold, in every format and
    for every status: checked against the ORM's own reading of the same rows."""
    from qianbiao.api.export import _copied
    from qianbiao.api.selectors import results_copy

    results_make(project_a, 5, confidence=0.8125)
    results_make(project_a, 2, prefix="x", rejected=True)
    Result.objects.filter(item__external_id="r2").update(
        agreement=None, confidence=None, label={"text": 'quote " and \\ and \n'}
    )
    until = timezone.now()

    def stored(status):
        rows = Result.objects.filter(project=project_a, updated_at__lte=until).select_related("item")
        if status != "all":
            rows = rows.filter(rejected=status == "rejected")
        return [
            {
                "external_id": r.item.external_id,
                "label": r.label,
                "method": r.method,
                "agreement": r.agreement,
                "annotations_used": r.annotations_used,
                "decided_at": r.decided_at.replace(microsecond=0),
                "updated_at": r.updated_at.replace(microsecond=0),
                "confidence": r.confidence,
                "status": "rejected" if r.rejected else "accepted",
            }
            for r in rows.order_by("updated_at", "id")
        ]

    def parsed(fmt, chunks):
        text = b"".join(chunks).decode()
        if fmt == "json":
            rows = json.loads(text)
        elif fmt == "jsonl":
            rows = [json.loads(line) for line in text.splitlines()]
        else:
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
            for row in rows:
                row["label"] = json.loads(row["label"])
                row["agreement"] = float(row["agreement"]) if row["agreement"] else None
                row["annotations_used"] = int(row["annotations_used"])
                row["confidence"] = float(row["confidence"]) if row["confidence"] else None
        for row in rows:
            for name in ("decided_at", "updated_at"):
                row[name] = dt.datetime.fromisoformat(row[name].replace("Z", "+00:00")).replace(microsecond=0)
        return rows

    expected = {
        "accepted": ["r0", "r1", "r2", "r3", "r4"],
        "rejected": ["x0", "x1"],
        "all": ["r0", "r1", "r2", "r3", "r4", "x0", "x1"],
    }
    for fmt in ("json", "jsonl", "csv"):
        for status, ids in expected.items():
            window = {"project": project_a, "since": None, "until": until, "status": status}
            fast = parsed(fmt, _copied(results_copy(**window, as_json=fmt != "csv"), fmt))
            assert fast == stored(status), (fmt, status)
            assert [r["external_id"] for r in fast] == ids, (fmt, status)
            assert list(fast[0]) == list(FIELDS), (fmt, status)
            by_id = {r["external_id"]: r for r in fast}
            if "r2" in by_id:
                r2 = by_id["r2"]
                assert r2["label"] == {"text": 'quote " and \\ and \n'}
                assert r2["agreement"] is None and r2["confidence"] is None
                assert by_id["r3"]["confidence"] == 0.8125 and by_id["r3"]["status"] == "accepted"
            if "x0" in by_id:
                assert by_id["x0"]["status"] == "rejected" and by_id["x0"]["label"] == []
                assert by_id["x0"]["method"] == "review" and by_id["x0"]["confidence"] is None


def test_results_query_is_validated(api_a, project_a):
    base = f"/api/v1/projects/{project_a.pk}/results"
    for query in ("?format=xml", "?since=yesterday", "?status=review", "?status=", "?status=ACCEPTED"):
        response = api_a.get(base + query)
        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_status_chooses_accepted_rejected_or_all(api_a, project_a, fmt):
    """Rejected in review: left out by default (as before), alone with
    ``status=rejected``, beside the accepted ones with ``status=all``."""
    then = timezone.now() - dt.timedelta(minutes=10)
    results_make(project_a, 2, prefix="a", confidence=0.75, when=then)
    results_make(project_a, 2, prefix="x", rejected=True, when=then + dt.timedelta(minutes=1))
    results_make(project_a, 1, prefix="b", when=then + dt.timedelta(minutes=2))
    base = f"/api/v1/projects/{project_a.pk}/results?format={fmt}"

    def pulled(query: str = "") -> list[tuple[str, str]]:
        text = _content(api_a.get(base + query)).decode()
        if fmt == "json":
            rows = json.loads(text)
        elif fmt == "jsonl":
            rows = [json.loads(line) for line in text.splitlines()]
        else:
            rows = list(csv.DictReader(io.StringIO(text)))
        return [(r["external_id"], r["status"]) for r in rows]

    accepted = [("a0", "accepted"), ("a1", "accepted"), ("b0", "accepted")]
    rejected = [("x0", "rejected"), ("x1", "rejected")]
    assert pulled() == accepted
    assert pulled("&status=accepted") == accepted
    assert pulled("&status=rejected") == rejected
    assert pulled("&status=all") == accepted[:2] + rejected + accepted[2:]  # oldest change first


def test_since_works_with_every_status(api_a, project_a, settings):
    settings.API_RESULTS_LAG_SECONDS = 0
    base = f"/api/v1/projects/{project_a.pk}/results?format=jsonl&status=all"
    results_make(project_a, 1, prefix="a", when=timezone.now() - dt.timedelta(hours=1))
    first = api_a.get(base)
    assert [json.loads(line)["external_id"] for line in _content(first).decode().splitlines()] == ["a0"]

    results_make(project_a, 1, prefix="x", rejected=True, when=timezone.now())
    results_make(project_a, 1, prefix="b", when=timezone.now())
    since = "&since=" + quote(first["X-Next-Since"])
    rows = [json.loads(line) for line in _content(api_a.get(base + since)).decode().splitlines()]
    assert [(r["external_id"], r["status"]) for r in rows] == [("x0", "rejected"), ("b0", "accepted")]
    only_rejected = base.replace("status=all", "status=rejected") + since
    assert [
        json.loads(line)["external_id"] for line in _content(api_a.get(only_rejected)).decode().splitlines()
    ] == ["x0"]


@pytest.mark.parametrize("status", ["accepted", "rejected", "all"])
def test_another_enterprises_results_stay_hidden_whatever_the_status(
    api_a, api_b, enterprise_b, project_a, status
):
    from tests.factories import DatasetProjectFactory

    results_make(project_a, 2, prefix="a")
    results_make(project_a, 2, prefix="x", rejected=True)
    project_b = DatasetProjectFactory(client=enterprise_b)
    results_make(project_b, 1, prefix="mine")
    results_make(project_b, 1, prefix="gone", rejected=True)

    response = api_b.get(f"/api/v1/projects/{project_a.pk}/results?status={status}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    own = json.loads(_content(api_b.get(f"/api/v1/projects/{project_b.pk}/results?status=all")))
    assert sorted(r["external_id"] for r in own) == ["gone0", "mine0"]


def test_results_stream_in_constant_memory(api_a, project_a):
    """Peak Python memory while streaming 60,000 results stays a small fraction of
    the export's size: rows are read through a server-side cursor and encoded in
    batches, never held all at once."""
    n = 60_000
    items_import(project=project_a, rows=item_rows(n, prefix="m"))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO quality_result (item_id, project_id, label, method, agreement, annotations_used,"
            " decided_at, updated_at) SELECT id, project_id, jsonb_build_object('choice', 'car', 'box',"
            " jsonb_build_array(1, 2, 3, 4), 'note', repeat('x', 100)), 'dawid_skene', 0.8, 3,"
            " now() - interval '1 hour', now() - interval '1 hour' FROM projects_item WHERE project_id = %s",
            [project_a.pk],
        )
    response = api_a.get(f"/api/v1/projects/{project_a.pk}/results?format=jsonl")
    tracemalloc.start()
    try:
        size = lines = 0
        for chunk in response.streaming_content:
            size += len(chunk)
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == n
    assert size > 12_000_000
    assert peak < size / 6, (peak, size)
