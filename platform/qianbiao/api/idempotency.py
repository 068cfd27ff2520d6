"""Idempotency keys: a repeated request returns the first response and does nothing again.

The record is inserted *before* the work, in the same transaction: a concurrent
request with the same key waits on the unique index until the first one commits
(then replays it) or rolls back (then does the work itself). A request that fails
leaves no record, so the client may fix it and retry under the same key. Records
are kept ``IDEMPOTENCY_TTL`` (24 hours by default), then purged.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from qianbiao.enterprises.models import Enterprise

from .models import IdempotencyRecord

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


def idempotency_ttl() -> dt.timedelta:
    return dt.timedelta(hours=getattr(settings, "API_IDEMPOTENCY_TTL_HOURS", 24))


@dataclass(frozen=True)
class Outcome:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


class KeyReused(Exception):
    """Same key, different request."""


def idempotent_run(
    *,
    enterprise: Enterprise,
    key: str,
    work: Callable[[], tuple[int, dict[str, Any]]],
    request_digest: Callable[[], str],
    drain: Callable[[], None],
) -> Outcome:
    """Run ``work`` once per (enterprise, key).

    ``request_digest`` gives the request's fingerprint once the body has been
    read — by ``work``, or by ``drain`` when the key was seen before. Raises
    KeyReused when the stored fingerprint differs; exceptions from ``work``
    propagate and leave no record."""
    while True:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    # Waits here while a concurrent request holds the same key.
                    record = IdempotencyRecord.objects.create(
                        enterprise=enterprise, key=key, request_hash="", status_code=0, response_body={}
                    )
            except IntegrityError:
                existing = IdempotencyRecord.objects.filter(enterprise=enterprise, key=key).first()
                if existing is None:
                    continue  # the holder rolled back meanwhile: try again
            else:
                status_code, body = work()
                record.request_hash = request_digest()
                record.status_code = status_code
                record.response_body = body
                record.save(update_fields=["request_hash", "status_code", "response_body"])
                return Outcome(status_code, body)
        if existing.created_at < timezone.now() - idempotency_ttl():
            IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue  # expired: the key is free again
        drain()
        if existing.request_hash != request_digest():
            raise KeyReused(key)
        return Outcome(existing.status_code, existing.response_body, replayed=True)


def idempotency_records_purge(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - idempotency_ttl()
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
