"""The distributor: gives pending items to eligible annotators, in chunks.

Each chunk is one transaction. A PostgreSQL session advisory lock makes one
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
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from qianbiao.core.locks import advisory_lock

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
_REFRESH_NAMESPACE = 0x51B2  # advisory-lock namespace for "recount a project's item states"


@dataclass(frozen=True)
class DistributionOutcome:
    project_id: int
    assignments_created: int
    items_considered: int
    more_pending: bool  # stopped for time with work left: continue in a new task
    starved: bool = False  # items still pending but no eligible annotator has room
    skipped: str = ""  # why nothing was done, if so


def _project_lock(project_id: int):
    return advisory_lock(_LOCK_NAMESPACE, project_id)


def project_distribution_running(project_id: int) -> bool:
    """Whether some session holds the project's distribution lock right now (a
    live worker is on it; a dead worker's session, and so its lock, is gone)."""
    with connection.cursor() as cursor:
        # pg_locks shows a two-key advisory lock as (classid, objid) with objsubid 2.
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s AND objsubid = 2)",
            [_LOCK_NAMESPACE, project_id],
        )
        return cursor.fetchone()[0]


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
    # Quality control says who is still sitting the entry exam. Imported here:
    # the quality app builds on this one, not the other way round.
    from qianbiao.quality.selectors import entry_exam_gates

    gates = entry_exam_gates(project=project, annotator_ids=ids)
    for candidate in candidates:
        candidate.exam_due = gates.get(candidate.annotator_id)
    return candidates


def _pg_array(ids: Iterable[int]) -> str:
    """Integer ids as one PostgreSQL array literal (cast with ``::bigint[]``):
    psycopg adapts a Python list element by element, ten times slower."""
    return "{" + ",".join(map(str, map(int, ids))) + "}"


def _pending_item_ids(project: DatasetProject) -> array:
    """Every pending ordinary item of the project, ascending, read once per run.

    Only the distributor (one at a time per project, under the lock) adds
    assignments, so the list cannot go stale in a way that matters: an item
    that gains free slots meanwhile is picked up by the next run. Streamed with
    COPY into a compact array, so a million ids cost 8 MB, not a list of rows."""
    buffer = bytearray()
    with connection.cursor() as cursor:
        query = (
            f"COPY (SELECT id FROM {Item._meta.db_table} WHERE project_id = {int(project.pk)} "
            f"AND state = '{ItemState.PENDING.value}' AND NOT is_gold ORDER BY id) TO STDOUT"
        )
        with cursor.cursor.copy(query) as copy:
            for data in copy:
                buffer += data
    return array("q", map(int, buffer.split()))


def _item_needs(project: DatasetProject, item_ids: Sequence[int]) -> list[ItemNeed]:
    """Each item's free slots and everyone who ever held it (they may not again)."""
    taken: dict[int, set[int]] = defaultdict(set)
    live_slots: dict[int, set[int]] = defaultdict(set)
    # One array parameter, not thousands of placeholders (psycopg parses those slowly).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT item_id, annotator_id, slot, state FROM {Assignment._meta.db_table} "
            "WHERE item_id = ANY(%s::bigint[])",
            [_pg_array(item_ids)],
        )
        rows = cursor.fetchall()
    for item_id, annotator_id, slot, state in rows:
        taken[item_id].add(annotator_id)
        if state in LIVE_ASSIGNMENT_STATES and slot is not None:
            live_slots[item_id].add(slot)
    extra = _extra_slots(item_ids)
    all_slots = tuple(range(project.overlap))
    nobody: frozenset[int] = frozenset()
    needs = []
    for item_id in item_ids:
        slots = tuple(range(project.overlap + extra[item_id])) if item_id in extra else all_slots
        if item_id not in taken:  # the common case: never assigned
            needs.append(ItemNeed(item_id, slots, nobody))
            continue
        live = live_slots.get(item_id, ())
        free = tuple(s for s in slots if s not in live)
        needs.append(ItemNeed(item_id, free, frozenset(taken[item_id])))
    return needs


def _extra_slots(item_ids: Sequence[int]) -> dict[int, int]:
    """Annotators quality control added to items (only the few items that have any)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, extra_slots FROM {Item._meta.db_table} "
            "WHERE id = ANY(%s::bigint[]) AND extra_slots > 0",
            [_pg_array(item_ids)],
        )
        return dict(cursor.fetchall())


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
    columns = (
        "project_id, item_id, annotator_id, slot, is_gold, state, run_id, "
        "load_at_decision, assigned_at, expires_at"
    )
    # COPY in text format, the constant columns formatted once: per row only
    # four integers are formatted in Python (write_row adapts all ten,
    # timestamps included, and costs several times as much).
    head = f"{project.pk}\t"
    tail = f"\t{run.pk}\t"
    stamps = f"\t{now.isoformat()}\t{expires.isoformat()}\n"
    ordinary = f"\tf\t{AssignmentState.OPEN.value}{tail}"
    gold = f"\\N\tt\t{AssignmentState.OPEN.value}{tail}"
    data = "".join(
        f"{head}{p.item_id}\t{p.annotator_id}\t{p.slot}{ordinary}{p.load_at_decision}{stamps}"
        if p.slot is not None
        else f"{head}{p.item_id}\t{p.annotator_id}\t{gold}{p.load_at_decision}{stamps}"
        for p in planned
    )
    copy_sql = f"COPY {Assignment._meta.db_table} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        copy.write(data)


def items_refresh_state(*, item_ids: Sequence[int], overlap: int, project_id: int | None = None) -> None:
    """Set ordinary items (all of one project) to assigned when all their slots
    are live, pending otherwise.

    The count and the update run under a per-project transaction
    lock taken first: each statement then takes its snapshot after whatever
    concurrent distribution or revocation of the project committed while we
    waited, and the lock is held to our commit. Counting without it could let a
    distributor mark an item assigned from a count a revocation had just made
    stale, and the item would never be offered again."""
    if not item_ids:
        return
    ids = list(item_ids)
    item_table, assignment_table = Item._meta.db_table, Assignment._meta.db_table
    live = ", ".join(f"'{state.value}'" for state in LIVE_ASSIGNMENT_STATES)
    with transaction.atomic(), connection.cursor() as cursor:
        if project_id is None:
            cursor.execute(f"SELECT project_id FROM {item_table} WHERE id = %s", [ids[0]])
            project_id = cursor.fetchone()[0]
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_REFRESH_NAMESPACE, project_id])
        # A correlated count per item: answered from the partial unique index on
        # live (item, slot) whatever the statistics say, where a join could be
        # planned as a scan of the whole table from stale ones.
        cursor.execute(
            f"SELECT u.id, (SELECT count(*) FROM {assignment_table} a WHERE a.item_id = u.id "
            f"AND a.slot IS NOT NULL AND a.state IN ({live})), "
            f"(SELECT i.extra_slots FROM {item_table} i WHERE i.id = u.id) "
            "FROM unnest(%s::bigint[]) AS u(id)",
            [_pg_array(ids)],
        )
        full, short = [], []
        for item_id, n, extra in cursor.fetchall():
            (full if n >= overlap + (extra or 0) else short).append(item_id)
        for targets, new_state, old_state in (
            (full, ItemState.ASSIGNED, ItemState.PENDING),
            (short, ItemState.PENDING, ItemState.ASSIGNED),
        ):
            if targets:
                cursor.execute(
                    f"UPDATE {item_table} SET state = %s WHERE id = ANY(%s::bigint[]) AND state = %s",
                    [new_state.value, _pg_array(targets), old_state.value],
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
            return DistributionOutcome(project_id, 0, 0, False, skipped="another worker holds the project")
        return _distribute_locked(project, chunk_items, time_budget_s)


def _distribute_locked(
    project: DatasetProject, chunk_items: int, time_budget_s: float | None
) -> DistributionOutcome:
    started = time.monotonic()
    candidates = project_candidates(project=project)
    gold_ratio = float(project.gold_ratio)
    gold_ids = _load_gold_history(project, candidates)
    run: DistributionRun | None = None  # recorded once there is a decision to explain
    created = considered = 0
    more = starved = False
    pending = _pending_item_ids(project) if candidates else array("q")
    for start in range(0, len(pending), chunk_items):
        if not any(c.room > 0 for c in candidates):
            break
        chunk = pending[start : start + chunk_items]
        needs = _item_needs(project, chunk)
        considered += len(needs)
        planned = plan_ordinary(needs, candidates)
        planned += plan_gold(candidates, gold_ids, gold_ratio)
        if planned:
            if run is None:
                run = DistributionRun.objects.create(
                    project=project,
                    eligible_annotators=len(candidates),
                    rule="least-loaded eligible annotator first; ties to higher quality, then lower id",
                )
            with transaction.atomic():
                _insert_assignments(project, run, planned)
                items_refresh_state(item_ids=chunk, overlap=project.overlap, project_id=project.pk)
                # In the chunk's transaction, so the run's count stays true even
                # if the worker dies before the end.
                DistributionRun.objects.filter(pk=run.pk).update(
                    assignments_created=F("assignments_created") + len(planned)
                )
            created += len(planned)
        if time_budget_s is not None and time.monotonic() - started > time_budget_s:
            more = start + chunk_items < len(pending)
            break
    if not more and not any(c.room > 0 for c in candidates):
        starved = Item.objects.filter(project=project, state=ItemState.PENDING, is_gold=False).exists()
    if run is not None:
        DistributionRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
    logger.info("distributed project %s: %s assignments over %s items", project.pk, created, considered)
    return DistributionOutcome(project.pk, created, considered, more, starved=starved)
