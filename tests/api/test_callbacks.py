"""Callbacks: registration over the API, signed deliveries to a real local
receiver, retries with backoff, the scan that finds events, and the tasks."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from qianbiao.api import callbacks
from qianbiao.api.callbacks import (
    MAX_ATTEMPTS,
    callback_delivery_attempt,
    callback_endpoint_create,
    callback_signature,
    callback_signature_verify,
    callbacks_scan,
)
from qianbiao.api.models import CallbackDelivery, CallbackEndpoint, DeliveryStatus
from qianbiao.projects.models import DatasetProject, Item, ItemState
from qianbiao.quality.models import Result
from tests.api.conftest import results_make

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP server on 127.0.0.1 that records what it is sent and answers
    with the next status of ``statuses`` (the last one repeats)."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _endpoint(enterprise, url, events=("results.ready", "project.completed")):
    return callback_endpoint_create(enterprise=enterprise, url=url, events=list(events))


# --- registration -------------------------------------------------------------


def test_register_shows_the_secret_once(api_a, enterprise_a):
    response = api_a.post(
        "/api/v1/callbacks/",
        {"url": "https://erp.a.example/qianbiao", "events": ["results.ready"], "description": "ERP"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    endpoint = CallbackEndpoint.objects.get(pk=body["id"])
    assert endpoint.enterprise == enterprise_a and endpoint.secret == body["secret"]
    # Encrypted at rest.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM api_callbackendpoint WHERE id = %s", [endpoint.pk])
        assert body["secret"] not in cursor.fetchone()[0]
    shown = api_a.get(f"/api/v1/callbacks/{endpoint.pk}/").json()
    assert "secret" not in shown and shown["url"] == "https://erp.a.example/qianbiao"
    assert "secret" not in api_a.get("/api/v1/callbacks/").json()["results"][0]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"url": "ftp://a.example/x", "events": ["results.ready"]}, "url"),
        ({"url": "https://user:pw@a.example/x", "events": ["results.ready"]}, "url"),
        ({"url": "https://a.example/x", "events": []}, "events"),
        ({"url": "https://a.example/x", "events": ["item.deleted"]}, "events"),
        ({"url": "not a url", "events": ["results.ready"]}, "url"),
    ],
)
def test_register_validates(api_a, data, field):
    response = api_a.post("/api/v1/callbacks/", data, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_plain_http_only_where_private_addresses_are_allowed(api_a, api_settings):
    api_settings.API_CALLBACKS_ALLOW_PRIVATE = False
    response = api_a.post(
        "/api/v1/callbacks/", {"url": "http://a.example/x", "events": ["results.ready"]}, format="json"
    )
    assert response.status_code == 400 and "url" in response.json()["error"]["fields"]


def test_change_and_remove(api_a, enterprise_a):
    endpoint, _ = _endpoint(enterprise_a, "https://a.example/x")
    response = api_a.patch(
        f"/api/v1/callbacks/{endpoint.pk}/",
        {"is_active": False, "events": ["project.completed"]},
        format="json",
    )
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.is_active is False and endpoint.events == ["project.completed"]
    assert api_a.delete(f"/api/v1/callbacks/{endpoint.pk}/").status_code == 204
    assert not CallbackEndpoint.objects.filter(pk=endpoint.pk).exists()


# --- signing and delivery ------------------------------------------------------------


def test_signature_round_trip_and_tampering():
    body = b'{"id": 1}'
    header = callback_signature(secret="s3cret", timestamp=1_700_000_000, body=body)
    assert header.startswith("t=1700000000,v1=")
    assert callback_signature_verify(secret="s3cret", header=header, body=body, now=1_700_000_100)
    assert not callback_signature_verify(secret="other", header=header, body=body, now=1_700_000_100)
    assert not callback_signature_verify(secret="s3cret", header=header, body=body + b" ", now=1_700_000_100)
    assert not callback_signature_verify(
        secret="s3cret", header=header, body=body, now=1_700_001_000
    )  # too old
    assert not callback_signature_verify(secret="s3cret", header="garbage", body=body)


def test_a_delivery_is_posted_signed(enterprise_a, project_a):
    with Receiver() as receiver:
        endpoint, secret = _endpoint(enterprise_a, receiver.url)
        (delivery,) = callbacks.project_completed_emit(project=project_a)
        outcome = callback_delivery_attempt(delivery_id=delivery.pk)
    assert outcome.status == "succeeded"
    headers, body = receiver.requests[0]
    assert headers["X-Qianbiao-Event"] == "project.completed"
    assert headers["X-Qianbiao-Delivery"] == str(delivery.pk)
    assert callback_signature_verify(secret=secret, header=headers["X-Qianbiao-Signature"], body=body)
    envelope = json.loads(body)
    assert envelope["id"] == delivery.pk and envelope["event"] == "project.completed"
    assert envelope["data"]["project_id"] == project_a.pk
    delivery.refresh_from_db()
    assert (
        delivery.status == DeliveryStatus.SUCCEEDED
        and delivery.attempts == 1
        and delivery.last_status_code == 200
    )


def test_failures_are_retried_with_backoff_then_given_up(enterprise_a, project_a):
    with Receiver(statuses=(500, 503, 200)) as receiver:
        _endpoint(enterprise_a, receiver.url)
        (delivery,) = callbacks.project_completed_emit(project=project_a)
        now = timezone.now()
        first = callback_delivery_attempt(delivery_id=delivery.pk, now=now)
        assert first.status == "retry" and 24 <= first.retry_in <= 36  # 30 s ± 20 %
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 500
        # Not due yet: nothing is sent.
        assert (
            callback_delivery_attempt(delivery_id=delivery.pk, now=now + dt.timedelta(seconds=5)).status
            == "skipped"
        )
        second = callback_delivery_attempt(delivery_id=delivery.pk, now=now + dt.timedelta(seconds=40))
        assert second.status == "retry" and 48 <= second.retry_in <= 72  # doubled
        third = callback_delivery_attempt(delivery_id=delivery.pk, now=now + dt.timedelta(minutes=5))
        assert third.status == "succeeded"
    assert len(receiver.requests) == 3
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 3

    waits = [callbacks.backoff_seconds(n, rng=lambda: 0.5) for n in range(1, MAX_ATTEMPTS)]
    assert waits[:4] == [30, 60, 120, 240] and max(waits) == callbacks.BACKOFF_MAX_S


def test_a_delivery_gives_up_after_the_last_attempt(enterprise_a, project_a):
    with Receiver(statuses=(500,)) as receiver:
        _endpoint(enterprise_a, receiver.url)
        (delivery,) = callbacks.project_completed_emit(project=project_a)
        CallbackDelivery.objects.filter(pk=delivery.pk).update(attempts=MAX_ATTEMPTS - 1)
        assert callback_delivery_attempt(delivery_id=delivery.pk).status == "failed"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == MAX_ATTEMPTS


def test_redirects_are_not_followed(enterprise_a, project_a):
    with Receiver(statuses=(302,)) as receiver:
        _endpoint(enterprise_a, receiver.url)
        (delivery,) = callbacks.project_completed_emit(project=project_a)
        outcome = callback_delivery_attempt(delivery_id=delivery.pk)
    assert outcome.status == "retry" and outcome.status_code == 302
    assert len(receiver.requests) == 1


def test_private_addresses_are_refused_unless_allowed(enterprise_a, project_a, api_settings):
    with Receiver() as receiver:
        _endpoint(enterprise_a, receiver.url)
        (delivery,) = callbacks.project_completed_emit(project=project_a)
        api_settings.API_CALLBACKS_ALLOW_PRIVATE = False
        outcome = callback_delivery_attempt(delivery_id=delivery.pk)
    assert outcome.status == "retry" and receiver.requests == []
    delivery.refresh_from_db()
    assert "non-public" in delivery.last_error


# --- the scan ---------------------------------------------------------------------


def test_scan_emits_results_ready_batches_without_repeats(enterprise_a, project_a, api_settings):
    api_settings.API_RESULTS_LAG_SECONDS = 0
    endpoint, _ = _endpoint(enterprise_a, "https://a.example/hook", events=["results.ready"])
    CallbackEndpoint.objects.filter(pk=endpoint.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    results_make(project_a, 3, when=timezone.now() - dt.timedelta(minutes=10))
    assert callbacks_scan() == 1
    assert callbacks_scan() == 0  # nothing new
    first = CallbackDelivery.objects.get(endpoint=endpoint)
    assert first.event == "results.ready" and first.payload["count"] == 3
    results_make(project_a, 2, prefix="n", when=timezone.now())
    assert callbacks_scan() == 1
    second = CallbackDelivery.objects.filter(endpoint=endpoint).exclude(pk=first.pk).get()
    assert second.payload["count"] == 2 and second.payload["since"] == first.payload["until"]


def test_scan_emits_project_completed_once(enterprise_a, project_a, enterprise_b):
    endpoint, _ = _endpoint(enterprise_a, "https://a.example/hook", events=["project.completed"])
    _endpoint(enterprise_b, "https://b.example/hook")  # B hears nothing of A
    results_make(project_a, 2)
    Item.objects.create(project=project_a, external_id="open", data={"x": 1})
    assert callbacks_scan() == 0
    Item.objects.filter(project=project_a).update(state=ItemState.ACCEPTED)
    assert callbacks_scan() == 1
    assert callbacks_scan() == 0
    delivery = CallbackDelivery.objects.get()
    assert delivery.endpoint == endpoint and delivery.event == "project.completed"
    # Marked completed by Qianbiao counts too, for any other project.
    other = DatasetProject.objects.create(
        client=enterprise_a,
        name="p2",
        domain="other",
        task_type="bounding_box",
        label_config="<View/>",
        status="completed",
    )
    assert callbacks_scan() == 1
    assert CallbackDelivery.objects.filter(project=other).count() == 1


def test_new_deliveries_are_enqueued_after_commit(
    enterprise_a, project_a, django_capture_on_commit_callbacks, monkeypatch
):
    from workers.app import app

    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), **kw: sent.append((name, args)))
    _endpoint(enterprise_a, "https://a.example/hook")
    with django_capture_on_commit_callbacks(execute=True):
        (delivery,) = callbacks.project_completed_emit(project=project_a)
    assert sent == [("qianbiao.callback_deliver", (delivery.pk,))]


# --- the Celery tasks ----------------------------------------------------------------


def test_deliver_task_retries_through_the_database(enterprise_a, project_a):
    from workers.callbacks import callback_deliver

    with Receiver(statuses=(500,)) as receiver:
        _endpoint(enterprise_a, receiver.url)
        (delivery,) = callbacks.project_completed_emit(project=project_a)
        # Eagerly, the retry runs at once and finds the delivery not yet due.
        callback_deliver.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert len(receiver.requests) == 1
    assert delivery.attempts == 1 and delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at > timezone.now() + dt.timedelta(seconds=20)


def test_sweep_resends_overdue_deliveries(
    enterprise_a, project_a, monkeypatch, django_capture_on_commit_callbacks
):
    from workers.app import app
    from workers.callbacks import callbacks_sweep

    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), **kw: sent.append((name, args)))
    _endpoint(enterprise_a, "https://a.example/hook")
    (delivery,) = callbacks.project_completed_emit(project=project_a)
    CallbackDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(minutes=10)
    )
    Result.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        callbacks_sweep.apply()
    assert ("qianbiao.callback_deliver", (delivery.pk,)) in sent
