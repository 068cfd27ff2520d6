"""Reads behind the REST API, always scoped to the calling enterprise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Avg, Count, Max, Min, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from qianbiao.enterprises.models import Enterprise
from qianbiao.projects.models import DatasetProject, Item, ItemState
from qianbiao.projects.progress import project_progress
from qianbiao.quality.models import Result

from .models import CallbackDelivery, CallbackEndpoint

THROUGHPUT_WINDOW = dt.timedelta(hours=24)
# Which results an export holds: the default, ``accepted``, is what the export
# always gave; ``rejected`` are items a reviewer found cannot be labelled.
ACCEPTED, REJECTED, ALL = "accepted", "rejected", "all"
RESULT_STATUSES = (ACCEPTED, REJECTED, ALL)
# Row order of every format (CSV columns too). Fields added later go at the end,
# so that a client reading CSV columns by position keeps working.
RESULT_COLUMNS = (
    "item__external_id",
    "label",
    "method",
    "agreement",
    "annotations_used",
    "decided_at",
    "updated_at",
    "confidence",
    "status",
)
RESULT_FIELDS = ("external_id",) + RESULT_COLUMNS[1:]


def projects_for_enterprise(*, enterprise: Enterprise) -> QuerySet[DatasetProject]:
    return DatasetProject.objects.filter(client=enterprise)


def project_for_enterprise(*, enterprise: Enterprise, project_id: int) -> DatasetProject:
    """The enterprise's project, or 404 — another enterprise's project does not exist."""
    project = projects_for_enterprise(enterprise=enterprise).filter(pk=project_id).first()
    if project is None:
        raise Http404
    return project


def callback_endpoints_for_enterprise(*, enterprise: Enterprise) -> QuerySet[CallbackEndpoint]:
    return CallbackEndpoint.objects.filter(enterprise=enterprise)


def callback_endpoint_for_enterprise(*, enterprise: Enterprise, callback_id: int) -> CallbackEndpoint:
    endpoint = callback_endpoints_for_enterprise(enterprise=enterprise).filter(pk=callback_id).first()
    if endpoint is None:
        raise Http404
    return endpoint


def callback_deliveries(*, endpoint: CallbackEndpoint) -> QuerySet[CallbackDelivery]:
    return CallbackDelivery.objects.filter(endpoint=endpoint)


@dataclass(frozen=True)
class ProgressReport:
    project_id: int
    status: str
    as_of: dt.datetime
    items: dict[str, Any]
    assignments: dict[str, Any]
    results: dict[str, Any]
    agreement: dict[str, Any]
    throughput: dict[str, Any]
    estimated_completion_at: dt.datetime | None


def project_progress_report(*, project: DatasetProject, now: dt.datetime | None = None) -> ProgressReport:
    """Counts by state, agreement so far, and when the work should be done at
    the pace of the last 24 hours (or since the first result, if more recent)."""
    now = now or timezone.now()
    progress = project_progress(project=project)
    results = Result.objects.filter(project=project)
    threshold = float(project.agreement_threshold)
    totals = results.aggregate(
        total=Count("pk"),
        measured=Count("agreement"),
        mean=Avg("agreement"),
        agreed=Count("pk", filter=Q(agreement__gte=threshold)),
        first=Min("decided_at"),
        last_update=Max("updated_at"),
    )
    by_method = dict(results.values_list("method").annotate(n=Count("pk")).order_by())

    ordinary = results.filter(item__is_gold=False)
    window_start = now - THROUGHPUT_WINDOW
    if totals["first"] is not None and totals["first"] > window_start:
        window_start = totals["first"]
    recent = ordinary.filter(decided_at__gte=window_start, decided_at__lte=now).count()
    elapsed = (now - window_start).total_seconds()
    per_hour = recent * 3600 / elapsed if recent and elapsed > 0 else 0.0

    accepted = progress.items_by_state.get(ItemState.ACCEPTED, 0)
    remaining = progress.items_total - accepted
    eta: dt.datetime | None = None
    if progress.items_total and remaining == 0:
        eta = totals["last_update"] or now
    elif remaining and per_hour > 0:
        eta = now + dt.timedelta(hours=remaining / per_hour)

    return ProgressReport(
        project_id=project.pk,
        status=project.status,
        as_of=now,
        items={
            "total": progress.items_total,
            "gold": progress.gold_items,
            "by_state": progress.items_by_state,
            "remaining": remaining,
        },
        assignments={"by_state": progress.assignments_by_state},
        results={"total": totals["total"], "by_method": by_method},
        agreement={
            "mean": totals["mean"],
            "measured": totals["measured"],
            "threshold": threshold,
            "at_or_above_threshold": totals["agreed"],
        },
        throughput={
            "results_per_hour": round(per_hour, 3),
            "window_start": window_start,
            "window_end": now,
        },
        estimated_completion_at=eta,
    )


def results_window_end(*, now: dt.datetime | None = None) -> dt.datetime:
    """The upper end of an export: a little in the past, so that a result whose
    transaction commits late is still inside the *next* window, never lost."""
    lag = dt.timedelta(seconds=getattr(settings, "API_RESULTS_LAG_SECONDS", 2))
    return (now or timezone.now()) - lag


def _status_check(status: str) -> None:
    if status not in RESULT_STATUSES:
        raise ValueError(f"unknown result status {status!r}")


# PostgreSQL encodes the rows itself and streams them with COPY … TO STDOUT, one
# message per row. A JSON row goes out as one CSV field whose quote and delimiter
# are control characters that JSON text never holds raw (json/jsonb escape
# them), so no quoting or escaping ever touches it.
_COPY_STATUS = f"CASE WHEN r.rejected THEN '{REJECTED}' ELSE '{ACCEPTED}' END"
# The item's external id by a correlated lookup on its primary key: one index probe
# per result whatever the statistics say. A join was planned, from the statistics of
# a freshly vacuumed (empty-looking) item table, as a nested loop reading every item
# for every result: an export of 60,000 results ran for over 15 minutes.
_COPY_EXTERNAL_ID = f"(SELECT i.external_id FROM {Item._meta.db_table} i WHERE i.id = r.item_id)"
_COPY_JSON = (
    f"json_build_object('external_id', {_COPY_EXTERNAL_ID}, 'label', r.label, 'method', r.method, "
    "'agreement', r.agreement, 'annotations_used', r.annotations_used, "
    "'decided_at', r.decided_at, 'updated_at', r.updated_at, "
    f"'confidence', r.confidence, 'status', {_COPY_STATUS})::text"
)
_COPY_CSV = (
    f"{_COPY_EXTERNAL_ID}, r.label::text, r.method, r.agreement, r.annotations_used, "
    "to_json(r.decided_at) #>> '{}', to_json(r.updated_at) #>> '{}', "
    f"r.confidence, {_COPY_STATUS}"
)


def results_copy(
    *,
    project: DatasetProject,
    since: dt.datetime | None,
    until: dt.datetime,
    as_json: bool,
    status: str = ACCEPTED,
) -> Iterator[bytes]:
    """Results with ``since < updated_at <= until`` — accepted, rejected in
    review, or all (``status``) — oldest change first, each already encoded as
    one line: a JSON object, or a CSV record in RESULT_FIELDS order."""
    _status_check(status)
    result_table = Result._meta.db_table
    where = "r.project_id = %s AND r.updated_at <= %s"
    params: list[Any] = [project.pk, until]
    if since is not None:
        where += " AND r.updated_at > %s"
        params.append(since)
    if status != ALL:
        where += " AND r.rejected = %s"
        params.append(status == REJECTED)
    options = "FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02'" if as_json else "FORMAT csv"
    sql = (
        f"COPY (SELECT {_COPY_JSON if as_json else _COPY_CSV} FROM {result_table} r "
        f"WHERE {where} ORDER BY r.updated_at, r.id) "
        f"TO STDOUT WITH ({options})"
    )
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        for row in copy:
            yield bytes(row)
