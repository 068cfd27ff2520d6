"""Pushing assignments, personal queues, annotating, export and webhooks on a real Label Studio."""

from __future__ import annotations

import http.server
import os
import queue
import threading

import pytest

from annotation.annotations import create_annotation, export_annotations, list_annotations
from annotation.errors import WebhookAuthError
from annotation.queues import ensure_queue_views, list_queue_views, next_task
from annotation.signing import route_key_for
from annotation.tasks import find_tasks, iter_tasks, push_tasks
from annotation.types import TaskSpec
from annotation.webhooks import SECRET_HEADER, list_webhooks, parse_webhook, register_webhook
from tests.integration.conftest import WEBHOOK_RECEIVER_PORT

pytestmark = pytest.mark.integration


def choice(value: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [value]}}]


def own_route(login) -> str:
    """The routing key Label Studio's lock-down lets this annotator work on."""
    return route_key_for(login.user_id, os.environ["LABEL_STUDIO_QIANBIAO_SECRET"])


def specs(start: int, count: int, route_key: str) -> list[TaskSpec]:
    return [
        TaskSpec(
            assignment_id=start + i, route_key=route_key, data={"text": f"句子 {start + i}"}, item_id=9000 + i
        )
        for i in range(count)
    ]


def test_push_returns_task_ids_in_order_and_never_duplicates(ls_admin, ls_project):
    first = push_tasks(ls_admin, ls_project.id, specs(100, 25, "r1"), batch_size=10)
    assert [p.assignment_id for p in first] == list(range(100, 125))
    assert all(p.created for p in first)
    by_task = {t.id: t for t in iter_tasks(ls_admin, ls_project.id)}
    for pushed in first:
        assert by_task[pushed.task_id].assignment_id == pushed.assignment_id
        assert by_task[pushed.task_id].route_key == "r1"

    # A retried push (say, the worker died after Label Studio committed) plus new work.
    again = push_tasks(ls_admin, ls_project.id, specs(110, 30, "r1"), batch_size=10)
    assert [p.created for p in again] == [False] * 15 + [True] * 15
    assert {p.assignment_id: p.task_id for p in again[:15]} == {
        p.assignment_id: p.task_id for p in first[10:]
    }
    assert len(list(iter_tasks(ls_admin, ls_project.id))) == 40
    assert find_tasks(ls_admin, ls_project.id, [100, 139, 140, "100"]) == {
        100: first[0].task_id,
        139: again[-1].task_id,
    }


def test_string_assignment_ids_are_found_too(ls_admin, ls_project):
    pushed = push_tasks(
        ls_admin, ls_project.id, [TaskSpec("a-1", "r", {"text": "x"}), TaskSpec("a-2", "r", {"text": "y"})]
    )
    assert find_tasks(ls_admin, ls_project.id, ["a-2", "a-3"]) == {"a-2": pushed[1].task_id}
    assert [
        p.created for p in push_tasks(ls_admin, ls_project.id, [TaskSpec("a-1", "r", {"text": "x"})])
    ] == [False]


def test_item_data_may_not_use_our_keys(ls_admin, ls_project):
    with pytest.raises(ValueError, match="reserved"):
        push_tasks(ls_admin, ls_project.id, [TaskSpec(1, "r", {"text": "x", "route_to": "someone else"})])


def test_queue_views_are_created_once(ls_admin, ls_project):
    first = ensure_queue_views(ls_admin, ls_project.id, ["k1", "k2"])
    again = ensure_queue_views(ls_admin, ls_project.id, ["k2", "k1", "k3"])
    assert all(v.created for v in first.values())
    assert (again["k1"].id, again["k2"].id) == (first["k1"].id, first["k2"].id)
    assert not again["k1"].created and again["k3"].created
    assert set(list_queue_views(ls_admin, ls_project.id)) == {"k1", "k2", "k3"}


def test_an_annotator_gets_only_the_tasks_routed_to_them(ls_admin, ls_project, ls_annotator):
    alice, alice_client = ls_annotator("alice")
    bob, bob_client = ls_annotator("bob")
    route = {alice.user_id: own_route(alice), bob.user_id: own_route(bob)}
    mine = push_tasks(ls_admin, ls_project.id, specs(1, 4, route[alice.user_id]))
    theirs = push_tasks(ls_admin, ls_project.id, specs(101, 3, route[bob.user_id]))
    views = ensure_queue_views(ls_admin, ls_project.id, route.values())

    seen = []
    while (task := next_task(alice_client, ls_project.id, views[route[alice.user_id]].id)) is not None:
        assert task.route_key == route[alice.user_id]
        seen.append(task.id)
        annotation = create_annotation(alice_client, task.id, choice("正面"), lead_time=3.5)
        assert annotation.completed_by == alice.user_id
        assert len(seen) <= 4, "the queue must run dry"
    assert sorted(seen) == sorted(p.task_id for p in mine)

    bob_task = next_task(bob_client, ls_project.id, views[route[bob.user_id]].id)
    assert bob_task is not None and bob_task.id in {p.task_id for p in theirs}


def test_export_returns_the_annotations_made(ls_admin, ls_project, ls_annotator):
    login, annotator = ls_annotator("exporter")
    pushed = push_tasks(ls_admin, ls_project.id, specs(500, 3, own_route(login)))
    made = [
        create_annotation(annotator, pushed[0].task_id, choice("正面"), lead_time=2.0),
        create_annotation(annotator, pushed[1].task_id, choice("负面"), lead_time=4.25),
        create_annotation(annotator, pushed[1].task_id, [], was_cancelled=True),
    ]
    # Label Studio lists only annotations that were not skipped; the export has both.
    assert [a.id for a in list_annotations(ls_admin, pushed[1].task_id)] == [made[1].id]

    exported = {a.id: a for a in export_annotations(ls_admin, ls_project.id)}
    assert set(exported) == {a.id for a in made}
    first = exported[made[0].id]
    assert (first.task_id, first.assignment_id, first.completed_by) == (pushed[0].task_id, 500, login.user_id)
    assert first.result[0]["value"] == {"choices": ["正面"]}
    assert first.lead_time == 2.0 and not first.was_cancelled
    assert first.created_at is not None and first.updated_at is not None
    assert exported[made[2].id].was_cancelled

    only = list(export_annotations(ls_admin, ls_project.id, task_ids=[pushed[1].task_id, pushed[2].task_id]))
    assert sorted(a.id for a in only) == [made[1].id, made[2].id]
    assert {a.assignment_id for a in only} == {501}


class _Receiver(http.server.BaseHTTPRequestHandler):
    deliveries: queue.Queue

    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.deliveries.put((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    deliveries: queue.Queue = queue.Queue()
    handler = type("Receiver", (_Receiver,), {"deliveries": deliveries})
    # The port Label Studio's SSRF guard lets webhooks through to (tests/integration/conftest.py).
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", WEBHOOK_RECEIVER_PORT), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hooks/label-studio", deliveries
    httpd.shutdown()
    httpd.server_close()


def test_a_delivered_webhook_parses_into_our_event(ls_admin, ls_project, ls_annotator, receiver):
    url, deliveries = receiver
    hook = register_webhook(ls_admin, url, "s3cret-for-tests", project_id=ls_project.id)
    again = register_webhook(ls_admin, url, "s3cret-for-tests", project_id=ls_project.id)
    assert again.id == hook.id
    assert sum(w.url == url for w in list_webhooks(ls_admin)) == 1

    login, annotator = ls_annotator("hooked")
    (pushed,) = push_tasks(ls_admin, ls_project.id, specs(700, 1, own_route(login)))
    made = create_annotation(annotator, pushed.task_id, choice("负面"), lead_time=1.5)

    headers, body = deliveries.get(timeout=10)
    assert b'"token"' in body  # the raw payload carries the ls_project token …
    event = parse_webhook(body, headers, secret="s3cret-for-tests")
    assert "token" not in repr(event)  # … our event does not
    assert event.action == "ANNOTATION_CREATED"
    assert event.project_id == ls_project.id
    (annotation,) = event.annotations
    assert (annotation.id, annotation.task_id, annotation.assignment_id) == (made.id, pushed.task_id, 700)
    assert annotation.completed_by == login.user_id
    assert annotation.lead_time == 1.5
    assert annotation.result[0]["value"] == {"choices": ["负面"]}

    with pytest.raises(WebhookAuthError):
        parse_webhook(body, headers, secret="another-secret")
    with pytest.raises(WebhookAuthError):
        parse_webhook(
            body, {k: v for k, v in headers.items() if k.lower() != SECRET_HEADER.lower()}, secret="x"
        )

    ls_admin.request("DELETE", f"/api/annotations/{made.id}/")
    headers, body = deliveries.get(timeout=10)
    deleted = parse_webhook(body, headers, secret="s3cret-for-tests")
    assert deleted.action == "ANNOTATIONS_DELETED"
    assert deleted.deleted_annotation_ids == (made.id,)
