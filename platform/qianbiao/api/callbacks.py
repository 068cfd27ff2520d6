"""Callbacks: signed events POSTed to URLs that enterprises register.

Events: ``project.completed`` (every ordinary item of a project has an accepted
result, or Qianbiao marked it completed) and ``results.ready`` (results changed
since the last such event). The periodic scan finds both from the database, so
nothing depends on a message that could be lost; each (endpoint, happening) has
one ``CallbackDelivery`` row, unique, so re-running the scan adds nothing.

Each attempt is signed: ``X-Qianbiao-Signature: t=<unix time>,v1=<hex>`` where
``v1 = HMAC-SHA256(secret, "<t>." + raw body)``. Receivers recompute it over the
raw body, compare in constant time and reject old timestamps (replays). Delivery
is at least once: ``X-Qianbiao-Delivery`` (also ``id`` in the body) lets a
receiver drop duplicates. Failures are retried with exponential backoff (30 s
doubling to 6 h, ±20 % jitter, 12 attempts, about 20 hours), then given up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from qianbiao.enterprises.models import Enterprise
from qianbiao.projects.models import DatasetProject, Item, ItemState, ProjectStatus
from qianbiao.quality.models import Result
from workers import enqueue

from .models import CallbackDelivery, CallbackEndpoint, CallbackEvent, DeliveryStatus
from .selectors import results_window_end

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Qianbiao-Signature"
EVENT_HEADER = "X-Qianbiao-Event"
DELIVERY_HEADER = "X-Qianbiao-Delivery"
SIGNATURE_TOLERANCE_S = 300
TIMEOUT_S = 10
BACKOFF_BASE_S = 30
BACKOFF_MAX_S = 6 * 3600
MAX_ATTEMPTS = 12
LEASE = dt.timedelta(minutes=2)  # an attempt in flight holds the delivery this long
MAX_ENDPOINTS_PER_ENTERPRISE = 10


# --- signing --------------------------------------------------------------


def callback_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def callback_signature_verify(
    *, secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = SIGNATURE_TOLERANCE_S
) -> bool:
    """What a receiver does (also in the API docs): recompute and compare."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    now = timezone.now().timestamp() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = callback_signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, f"t={timestamp},v1={parts.get('v1', '')}")


# --- endpoints ------------------------------------------------------------


def _events_check(events: Iterable[str]) -> list[str]:
    events = list(dict.fromkeys(events))
    unknown = [event for event in events if event not in CallbackEvent.values]
    if not events or unknown:
        raise ValidationError(
            {"events": _("Choose one or more of: %(events)s.") % {"events": ", ".join(CallbackEvent.values)}}
        )
    return events


def _url_check(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError({"url": _("Enter an http(s) URL.")})
    if parts.username or parts.password:
        raise ValidationError({"url": _("A callback URL may not carry credentials.")})
    if parts.scheme != "https" and not _private_allowed():
        raise ValidationError({"url": _("Callbacks are sent to https URLs only.")})


@transaction.atomic
def callback_endpoint_create(
    *, enterprise: Enterprise, url: str, events: Iterable[str], description: str = ""
) -> tuple[CallbackEndpoint, str]:
    """Register an endpoint; returns it with its signing secret (shown once)."""
    _url_check(url)
    events = _events_check(events)
    if CallbackEndpoint.objects.filter(enterprise=enterprise).count() >= MAX_ENDPOINTS_PER_ENTERPRISE:
        raise ValidationError(
            _("An enterprise has at most %(n)d callback endpoints.") % {"n": MAX_ENDPOINTS_PER_ENTERPRISE}
        )
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = CallbackEndpoint(
        enterprise=enterprise, url=url, events=events, description=description, secret=secret
    )
    endpoint.full_clean(exclude=["secret"])
    endpoint.save()
    return endpoint, secret


@transaction.atomic
def callback_endpoint_update(*, endpoint: CallbackEndpoint, data: dict[str, Any]) -> CallbackEndpoint:
    if "url" in data:
        _url_check(data["url"])
    if "events" in data:
        data = {**data, "events": _events_check(data["events"])}
    for name, value in data.items():
        setattr(endpoint, name, value)
    endpoint.full_clean(exclude=["secret"])
    if data:
        endpoint.save(update_fields=list(data))
    return endpoint


def callback_endpoint_delete(*, endpoint: CallbackEndpoint) -> None:
    endpoint.delete()


# --- events ---------------------------------------------------------------


def callback_event_emit(
    *,
    endpoints: Iterable[CallbackEndpoint],
    event: str,
    project: DatasetProject | None,
    dedupe_key: str,
    payload: dict[str, Any],
    window_until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> list[CallbackDelivery]:
    """One delivery per endpoint subscribed to ``event``, unless it exists;
    the new ones are enqueued once the transaction commits."""
    now = now or timezone.now()
    created: list[CallbackDelivery] = []
    for endpoint in endpoints:
        if not endpoint.is_active or event not in endpoint.events:
            continue
        delivery, was_created = CallbackDelivery.objects.get_or_create(
            endpoint=endpoint,
            dedupe_key=dedupe_key,
            defaults={
                "event": event,
                "project": project,
                "payload": payload,
                "window_until": window_until,
                "next_attempt_at": now,
            },
        )
        if was_created:
            created.append(delivery)
    if created:
        ids = [delivery.pk for delivery in created]
        enqueue.callback_deliver(ids)
    return created


def project_completed_emit(
    *, project: DatasetProject, now: dt.datetime | None = None
) -> list[CallbackDelivery]:
    endpoints = CallbackEndpoint.objects.filter(enterprise_id=project.client_id, is_active=True)
    return callback_event_emit(
        endpoints=endpoints,
        event=CallbackEvent.PROJECT_COMPLETED,
        project=project,
        dedupe_key=f"{CallbackEvent.PROJECT_COMPLETED}:{project.pk}",
        payload={
            "project_id": project.pk,
            "results_url": f"/api/v1/projects/{project.pk}/results",
            "progress_url": f"/api/v1/projects/{project.pk}/progress",
        },
        now=now,
    )


def _project_is_complete(project: DatasetProject) -> bool:
    if project.status == ProjectStatus.COMPLETED:
        return True
    ordinary = Item.objects.filter(project=project, is_gold=False)
    return ordinary.exists() and not ordinary.exclude(state=ItemState.ACCEPTED).exists()


@transaction.atomic
def callbacks_scan(*, now: dt.datetime | None = None) -> int:
    """Find what happened since the last scan and create the deliveries for it."""
    now = now or timezone.now()
    until = results_window_end(now=now)
    by_enterprise: dict[int, list[CallbackEndpoint]] = defaultdict(list)
    for endpoint in CallbackEndpoint.objects.filter(is_active=True):
        by_enterprise[endpoint.enterprise_id].append(endpoint)
    created = 0
    for enterprise_id, endpoints in by_enterprise.items():
        projects = list(DatasetProject.objects.filter(client_id=enterprise_id))
        ready = [e for e in endpoints if CallbackEvent.RESULTS_READY in e.events]
        marks = {
            (endpoint_id, project_id): mark
            for endpoint_id, project_id, mark in CallbackDelivery.objects.filter(
                endpoint__in=ready, event=CallbackEvent.RESULTS_READY
            )
            .values_list("endpoint_id", "project_id")
            .annotate(mark=Max("window_until"))
            .values_list("endpoint_id", "project_id", "mark")
        }
        completed_done = set(
            CallbackDelivery.objects.filter(
                endpoint__in=endpoints, event=CallbackEvent.PROJECT_COMPLETED
            ).values_list("endpoint_id", "project_id")
        )
        for project in projects:
            for endpoint in ready:
                since = marks.get((endpoint.pk, project.pk)) or endpoint.created_at
                if since >= until:
                    continue
                count = Result.objects.filter(
                    project=project, updated_at__gt=since, updated_at__lte=until
                ).count()
                if not count:
                    continue
                created += len(
                    callback_event_emit(
                        endpoints=[endpoint],
                        event=CallbackEvent.RESULTS_READY,
                        project=project,
                        dedupe_key=f"{CallbackEvent.RESULTS_READY}:{project.pk}:{until.isoformat()}",
                        payload={
                            "project_id": project.pk,
                            "count": count,
                            "since": since.isoformat(),
                            "until": until.isoformat(),
                            "results_url": f"/api/v1/projects/{project.pk}/results?since="
                            + urllib.parse.quote(since.isoformat()),
                        },
                        window_until=until,
                        now=now,
                    )
                )
            waiting = [e for e in endpoints if (e.pk, project.pk) not in completed_done]
            if any(CallbackEvent.PROJECT_COMPLETED in e.events for e in waiting) and _project_is_complete(
                project
            ):
                created += len(project_completed_emit(project=project, now=now))
    return created


# --- delivery -------------------------------------------------------------


def _private_allowed() -> bool:
    return bool(getattr(settings, "API_CALLBACKS_ALLOW_PRIVATE", False))


def _destination_refusal(url: str) -> str:
    """Why ``url`` may not be called (loopback, private, link-local…), or ''."""
    if _private_allowed():
        return ""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"{host} resolves to a non-public address"
    return ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 3xx is an answer, not a detour
        return None


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:500]


def backoff_seconds(attempt: int, *, rng: Callable[[], float] = random.random) -> float:
    """Wait after failed attempt number ``attempt`` (1-based)."""
    base = min(BACKOFF_BASE_S * 2 ** (attempt - 1), BACKOFF_MAX_S)
    return base * (0.8 + 0.4 * rng())


@dataclass(frozen=True)
class AttemptOutcome:
    status: str  # "succeeded", "retry", "failed", "skipped"
    retry_in: float | None = None
    status_code: int | None = None


def delivery_body(delivery: CallbackDelivery) -> bytes:
    envelope = {
        "id": delivery.pk,
        "event": delivery.event,
        "created_at": delivery.created_at,
        "data": delivery.payload,
    }
    return json.dumps(envelope, cls=DjangoJSONEncoder, ensure_ascii=False).encode()


def callback_delivery_attempt(
    *, delivery_id: int, now: dt.datetime | None = None, post: Callable[..., tuple[int | None, str]] = _post
) -> AttemptOutcome:
    """Claim a due delivery (a conditional update: one attempt at a time), POST
    it signed, and record the outcome with the next attempt's time."""
    now = now or timezone.now()
    claimed = CallbackDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now + dt.timedelta(seconds=5)
    ).update(next_attempt_at=now + LEASE)
    if not claimed:
        return AttemptOutcome("skipped")
    delivery = CallbackDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    attempt = delivery.attempts + 1
    refusal = _destination_refusal(endpoint.url) if endpoint.is_active else "endpoint deactivated"
    if refusal:
        status_code, error = None, refusal
    else:
        body = delivery_body(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Qianbiao-Callbacks/1",
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.pk),
            SIGNATURE_HEADER: callback_signature(
                secret=endpoint.secret, timestamp=int(now.timestamp()), body=body
            ),
        }
        status_code, error = post(endpoint.url, body, headers)
    fields: dict[str, Any] = {"attempts": attempt, "last_status_code": status_code, "last_error": error}
    if status_code is not None and 200 <= status_code < 300:
        fields.update(status=DeliveryStatus.SUCCEEDED, delivered_at=now, last_error="")
        outcome = AttemptOutcome("succeeded", status_code=status_code)
    elif attempt >= MAX_ATTEMPTS or refusal == "endpoint deactivated":
        fields.update(status=DeliveryStatus.FAILED)
        outcome = AttemptOutcome("failed", status_code=status_code)
    else:
        wait = backoff_seconds(attempt)
        fields.update(next_attempt_at=now + dt.timedelta(seconds=wait))
        outcome = AttemptOutcome("retry", retry_in=wait, status_code=status_code)
    CallbackDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).update(**fields)
    if outcome.status != "succeeded":
        logger.info("callback %s to %s: %s (%s)", delivery_id, endpoint.url, outcome.status, error)
    return outcome


def callback_deliveries_overdue(
    *, now: dt.datetime | None = None, grace_s: int = 60, limit: int = 1000
) -> list[int]:
    """Pending deliveries well past their time: their message was probably lost."""
    now = now or timezone.now()
    return list(
        CallbackDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now - dt.timedelta(seconds=grace_s)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
