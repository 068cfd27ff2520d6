"""The distributor: gives pending items to eligible annotators, in chunks.

Each chunk is one transaction. On PostgreSQL a session advisory lock makes one
worker at a time distribute a project (a duplicated or redelivered message finds
the lock taken and returns), and the unique constraints on Assignment make a
lost race fail loudly instead of double-assigning. A worker killed mid-way loses
at most its uncommitted chunk; the next run re-derives what is left from the
database.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from .eligibility import eligible_annotators
from .models import (
    LIVE_ASSIGNMENT_STATES,
    AnnotatorStanding,
    Assignment,
    AssignmentState,
    DatasetProject,
    DistributionRun,
    Item,
    ItemState,
    ProjectStatus,
)
from .planner import Candidate, ItemNeed, Planned, plan_gold, plan_ordinary

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ITEMS = 10_000
_LOCK_NAMESPACE = 0x51B1  # advisory-lock namespace for "distribute project"


@dataclass(frozen=True)
class DistributionOutcome:
    project_id: int
    assignments_created: int
    items_considered: int
    more_pending: bool  # stopped for time with work left: continue in a new task
    starved: bool = False  # items still pending but no eligible annotator has room
    skipped: str = ""  # why nothing was done, if so


@contextmanager
def _project_lock(project_id: int) -> Iterator[bool]:
    if connection.vendor != "postgresql":
        yield True  # SQLite serialises writers itself
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, project_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, project_id])


def start_of_today() -> dt.datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def project_candidates(*, project: DatasetProject) -> list[Candidate]:
    """Eligible annotators with their current load and remaining room."""
    today = start_of_today()
    ids = list(eligible_annotators(project=project).values_list("pk", flat=True))
    if not ids:
        return []
    usage = {
        row["annotator_id"]: row
        for row in Assignment.objects.filter(project=project)
        .exclude(state=AssignmentState.REVOKED)
        .values("annotator_id")
        .annotate(
            open=Count("pk", filter=Q(state=AssignmentState.OPEN)),
            today=Count("pk", filter=Q(assigned_at__gte=today)),
            ordinary=Count("pk", filter=Q(is_gold=False)),
            gold=Count("pk", filter=Q(is_gold=True)),
        )
    }
    quality = dict(
        AnnotatorStanding.objects.filter(project=project, quality_score__isnull=False).values_list(
            "annotator_id", "quality_score"
        )
    )
    candidates = []
    for annotator_id in ids:
        u = usage.get(annotator_id, {})
        open_load = u.get("open", 0)
        room = min(project.open_cap - open_load, project.daily_quota - u.get("today", 0))
        candidates.append(
            Candidate(
                annotator_id=annotator_id,
                load=open_load,
                room=max(0, room),
                quality=float(quality.get(annotator_id, 0.5)),
                ordinary_total=u.get("ordinary", 0),
                gold_total=u.get("gold", 0),
            )
        )
    return candidates


def _pending_chunk(project: DatasetProject, after_id: int, limit: int) -> list[ItemNeed]:
    item_ids = list(
        Item.objects.filter(project=project, state=ItemState.PENDING, is_gold=False, pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    if not item_ids:
        return []
    taken: dict[int, set[int]] = defaultdict(set)
    live_slots: dict[int, set[int]] = defaultdict(set)
    for item_id, annotator_id, slot, state in Assignment.objects.filter(item_id__in=item_ids).values_list(
        "item_id", "annotator_id", "slot", "state"
    ):
        taken[item_id].add(annotator_id)
        if state in LIVE_ASSIGNMENT_STATES and slot is not None:
            live_slots[item_id].add(slot)
    needs = []
    for item_id in item_ids:
        free = tuple(s for s in range(project.overlap) if s not in live_slots[item_id])
        needs.append(ItemNeed(item_id, free, frozenset(taken[item_id])))
    return needs


def _load_gold_history(project: DatasetProject, candidates: Sequence[Candidate]) -> list[int]:
    gold_ids = list(
        Item.objects.filter(project=project, is_gold=True).order_by("pk").values_list("pk", flat=True)
    )
    if gold_ids:
        by_id = {c.annotator_id: c for c in candidates}
        for annotator_id, item_id in Assignment.objects.filter(project=project, is_gold=True).values_list(
            "annotator_id", "item_id"
        ):
            if annotator_id in by_id:
                by_id[annotator_id].gold_seen.add(item_id)
    return gold_ids


def _insert_assignments(project: DatasetProject, run: DistributionRun, planned: Sequence[Planned]) -> None:
    now = timezone.now()
    expires = now + dt.timedelta(hours=project.assignment_ttl_hours)
    if connection.vendor == "postgresql":
        columns = (
            "project_id, item_id, annotator_id, slot, is_gold, state, run_id, "
            "load_at_decision, assigned_at, expires_at"
        )
        copy_sql = f"COPY {Assignment._meta.db_table} ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
            for p in planned:
                copy.write_row(
                    (
                        project.pk,
                        p.item_id,
                        p.annotator_id,
                        p.slot,
                        p.slot is None,
                        AssignmentState.OPEN,
                        run.pk,
                        p.load_at_decision,
                        now,
                        expires,
                    )
                )
        return
    Assignment.objects.bulk_create(
        (
            Assignment(
                project=project,
                item_id=p.item_id,
                annotator_id=p.annotator_id,
                slot=p.slot,
                is_gold=p.slot is None,
                run=run,
                load_at_decision=p.load_at_decision,
                assigned_at=now,
                expires_at=expires,
            )
            for p in planned
        ),
        batch_size=2000,
    )


def items_refresh_state(*, item_ids: Sequence[int], overlap: int) -> None:
    """Set ordinary items to assigned when all their slots are live, pending otherwise."""
    if not item_ids:
        return
    full = (
        Assignment.objects.filter(item_id__in=item_ids, state__in=LIVE_ASSIGNMENT_STATES, slot__isnull=False)
        .values("item_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=overlap)
        .values("item_id")
    )
    Item.objects.filter(pk__in=full, state=ItemState.PENDING).update(state=ItemState.ASSIGNED)
    Item.objects.filter(pk__in=item_ids, state=ItemState.ASSIGNED).exclude(pk__in=full).update(
        state=ItemState.PENDING
    )


def project_distribute(
    *,
    project_id: int,
    chunk_items: int = DEFAULT_CHUNK_ITEMS,
    time_budget_s: float | None = None,
) -> DistributionOutcome:
    """Distribute a project's pending items until done, out of room, or out of
    time (then ``more_pending`` tells the caller to continue in a new task)."""
    project = DatasetProject.objects.get(pk=project_id)
    if project.status != ProjectStatus.ACTIVE:
        return DistributionOutcome(project_id, 0, 0, False, skipped=f"project is {project.status}")
    with _project_lock(project_id) as acquired:
        if not acquired:
            return DistributionOutcome(
                project_id, 0, 0, False, skipped="another worker holds the project"
            )
        return _distribute_locked(project, chunk_items, time_budget_s)


def _distribute_locked(
    project: DatasetProject, chunk_items: int, time_budget_s: float | None
) -> DistributionOutcome:
    started = time.monotonic()
    candidates = project_candidates(project=project)
    gold_ratio = float(project.gold_ratio)
    gold_ids = _load_gold_history(project, candidates)
    run = DistributionRun.objects.create(
        project=project,
        eligible_annotators=len(candidates),
        rule="least-loaded eligible annotator first; ties to higher quality, then lower id",
    )
    created = considered = 0
    after_id = 0
    more = starved = False
    while True:
        if not any(c.room > 0 for c in candidates):
            starved = Item.objects.filter(project=project, state=ItemState.PENDING, is_gold=False).exists()
            break
        needs = _pending_chunk(project, after_id, chunk_items)
        if not needs:
            break
        after_id = needs[-1].item_id
        considered += len(needs)
        planned = plan_ordinary(needs, candidates)
        planned += plan_gold(candidates, gold_ids, gold_ratio)
        with transaction.atomic():
            _insert_assignments(project, run, planned)
            items_refresh_state(item_ids=[n.item_id for n in needs], overlap=project.overlap)
        created += len(planned)
        if time_budget_s is not None and time.monotonic() - started > time_budget_s:
            more = True
            break
    DistributionRun.objects.filter(pk=run.pk).update(assignments_created=created)
    logger.info("distributed project %s: %s assignments over %s items", project.pk, created, considered)
    return DistributionOutcome(project.pk, created, considered, more, starved=starved)
