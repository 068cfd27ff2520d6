"""Pushing assignments to Label Studio: one task per assignment, carrying the item's
data, the assignment id and the annotator's routing key.

Never duplicates a task, also after a crash: see ``assignments_push``. Label Studio
imports one batch while this process records the previous one and reads the next.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest, Least, Now
from django.utils import timezone

from annotation.client import LabelStudioClient, connect
from annotation.tasks import find_tasks, import_tasks
from annotation.types import TaskSpec
from qianbiao.core.locks import advisory_lock
from qianbiao.labelling import selectors
from qianbiao.labelling.accounts import annotators_provision_label_studio
from qianbiao.labelling.client import label_studio_admin
from qianbiao.labelling.models import LabelStudioAccount, LabelStudioProject
from qianbiao.labelling.shards import project_provision_label_studio, shard_create
from qianbiao.projects.models import Assignment, DatasetProject

logger = logging.getLogger(__name__)

_LOCK_NAMESPACE = 0x5142  # pg advisory lock namespace of pushes ("QB")


@dataclass
class PushOutcome:
    project_id: int
    pushed: int = 0
    created: int = 0
    found_existing: int = 0
    skipped: int = 0
    batches: int = 0
    more_pending: bool = False
    locked_out: bool = False
    deferred: bool = False  # a push died recently; its last import may still be in Label Studio


def _project_push_lock(project_id: int):
    """One pusher per project at a time (two could import the same assignment).
    A PostgreSQL session lock: released when the process dies, too."""
    return advisory_lock(_LOCK_NAMESPACE, project_id)


def _record_pushed(shard: LabelStudioProject, task_ids: dict[int, int]) -> None:
    """Stores each assignment's new task id, and the shard's size and task-id bounds
    (every call records tasks not counted before)."""
    if not task_ids:
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Two array parameters, not two per row: psycopg parses thousands of
            # placeholders slowly.
            cursor.execute(
                f"UPDATE {Assignment._meta.db_table} a SET ls_task_id = v.t "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, t) WHERE a.id = v.id",
                [list(task_ids), list(task_ids.values())],
            )
        lo, hi = min(task_ids.values()), max(task_ids.values())
        LabelStudioProject.objects.filter(pk=shard.pk).update(
            task_count=F("task_count") + len(task_ids),
            min_ls_task_id=Least(Coalesce("min_ls_task_id", lo), lo),
            max_ls_task_id=Greatest(Coalesce("max_ls_task_id", hi), hi),
        )


def assignments_push(
    *,
    project_id: int,
    limit: int = 50_000,
    batch_size: int | None = None,
    client: LabelStudioClient | None = None,
) -> PushOutcome:
    """Pushes up to ``limit`` open, unpushed assignments of a project to Label Studio:
    one task per assignment, carrying the item's data, the assignment id and the
    annotator's routing key; batches of ``LABEL_STUDIO_PUSH_BATCH``.

    Never duplicates a task: before each import the shard's mark is raised past the
    batch (committed), so after a crash anything at or below the mark that has no
    task id here is first looked up in Label Studio by its assignment id.

    Label Studio imports one batch while this process records the task ids of the
    previous one and reads the next (imports themselves stay one at a time, in
    assignment order, which the shards' task-id bounds rely on). Queue views are not
    made here: see ``queues_ensure_for_project`` and ``annotator_queues_open``.
    """
    outcome = PushOutcome(project_id=project_id)
    batch_size = batch_size or settings.LABEL_STUDIO_PUSH_BATCH
    with _project_push_lock(project_id) as got, contextlib.ExitStack() as stack:
        if not got:
            outcome.locked_out = True
            return outcome
        admin = client or stack.enter_context(label_studio_admin())
        shards = project_provision_label_studio(project_id=project_id, client=admin)
        if _unsettled(shards):
            outcome.deferred = True  # the sweep comes back after the settle time
            return outcome
        importer = _Importer.open(stack, admin)
        after_id = _push_batches(
            admin, importer, shards, outcome, project_id=project_id, limit=limit, batch_size=batch_size
        )
        importer.finish()
        LabelStudioProject.objects.filter(project_id=project_id).update(push_settled_at=Now())
        outcome.more_pending = (
            selectors.assignments_unpushed(project_id=project_id).filter(id__gt=after_id).exists()
        )
    return outcome


def _push_batches(
    admin: LabelStudioClient,
    importer: _Importer,
    shards: list[LabelStudioProject],
    outcome: PushOutcome,
    *,
    project_id: int,
    limit: int,
    batch_size: int,
) -> int:
    """Reads, filters and hands to the importer one batch after another, in assignment
    order, opening a new shard when the last one is full; returns the last assignment
    id read (what is above it is still pending)."""
    shard_load = shards[-1].task_count  # ours, ahead of the recorded count by what is in flight
    after_id = 0
    while outcome.pushed + outcome.skipped < limit:
        rows = list(
            selectors.assignments_unpushed(project_id=project_id)
            .filter(id__gt=after_id)
            .values_list("id", "annotator_id", "item__data", "item__external_id")[
                : min(batch_size, limit - outcome.pushed - outcome.skipped)
            ]
        )
        if not rows:
            break
        after_id = rows[-1][0]
        accounts, to_send = _batch_to_send(admin, shards, rows, outcome)
        if not to_send:
            continue
        if shard_load + len(to_send) > settings.LABEL_STUDIO_SHARD_TASKS:
            shard = shard_create(
                admin, project=DatasetProject.objects.get(pk=project_id), shard=shards[-1].shard + 1
            )
            shards.append(shard)
            shard_load = 0
        shard = shards[-1]
        _mark_raise(shard, to_send[-1][0])
        importer.submit(shard, [r[0] for r in to_send], _task_data(to_send, accounts))
        shard_load += len(to_send)
        outcome.created += len(to_send)
    return after_id


def _batch_to_send(
    admin: LabelStudioClient, shards: list[LabelStudioProject], rows: list, outcome: PushOutcome
) -> tuple[dict[int, LabelStudioAccount], list]:
    """The annotators' active accounts (provisioned if missing), and the rows of the
    batch that still need importing: not a leaver's, not already in Label Studio."""
    accounts = annotators_provision_label_studio(annotator_ids={r[1] for r in rows}, client=admin)
    accounts = {k: a for k, a in accounts.items() if a.is_active}
    sendable = [r for r in rows if r[1] in accounts]
    outcome.skipped += len(rows) - len(sendable)  # leavers: the sweep revokes their work
    if not sendable:
        return accounts, []
    outcome.batches += 1
    outcome.pushed += len(sendable)
    to_send = _record_found(admin, shards, sendable)
    outcome.found_existing += len(sendable) - len(to_send)
    return accounts, to_send


def _mark_raise(shard: LabelStudioProject, through_assignment_id: int) -> None:
    """Raises the shard's push mark past the batch before it is imported, committed
    (``assignments_push`` holds no transaction open): a push that dies during the import
    leaves a mark that makes the next one look those tasks up instead of importing them."""
    LabelStudioProject.objects.filter(pk=shard.pk).update(
        pushed_through_assignment_id=Greatest("pushed_through_assignment_id", through_assignment_id),
        pushed_through_at=Now(),
    )
    shard.pushed_through_assignment_id = max(shard.pushed_through_assignment_id, through_assignment_id)


def _task_data(to_send: list, accounts: dict[int, LabelStudioAccount]) -> list[dict]:
    return [
        TaskSpec(
            assignment_id=assignment_id,
            route_key=accounts[annotator_id].routing_key,
            data=item_data if isinstance(item_data, dict) else {"value": item_data},
            item_id=external_id,
        ).task_data()
        for assignment_id, annotator_id, item_data, external_id in to_send
    ]


def _unsettled(shards: list[LabelStudioProject]) -> bool:
    """True when a push raised the mark without ending cleanly less than
    ``LABEL_STUDIO_PUSH_SETTLE_SECONDS`` ago: Label Studio may still be committing an
    import that push sent (it keeps working after its client died or timed out), and a
    lookup now would miss those tasks and import them twice."""
    raised = [s for s in shards if s.pushed_through_at is not None]
    if not raised:
        return False
    last = max(s.pushed_through_at for s in raised)
    if all(s.push_settled_at is not None and s.push_settled_at >= last for s in raised):
        return False
    return timezone.now() - last < timedelta(seconds=settings.LABEL_STUDIO_PUSH_SETTLE_SECONDS)


@dataclass
class _Import:
    shard: LabelStudioProject
    assignment_ids: list[int]
    future: Future


def _import_record(pending: _Import) -> None:
    """Records the task ids of a finished import (a failed one raises: the mark covers it)."""
    task_ids = pending.future.result()
    pushed = dict(zip(pending.assignment_ids, task_ids, strict=True))
    _record_pushed(pending.shard, pushed)


def _imports_record_quietly(in_flight: list[_Import]) -> None:
    """On the way out of a failed push: never masks the error that ended it."""
    for pending in in_flight:
        try:
            _import_record(pending)
        except Exception:
            logger.warning("an import in flight when the push failed did not complete", exc_info=True)


class _Importer:
    """Label Studio's imports, one at a time and in assignment order (the shards'
    task-id bounds rely on that), on a thread of their own: while Label Studio takes
    one batch, the push records the task ids of the previous one and reads the next."""

    def __init__(self, client: LabelStudioClient, executor: ThreadPoolExecutor, in_flight: list[_Import]):
        self.client, self.executor, self.in_flight = client, executor, in_flight

    @classmethod
    def open(cls, stack: contextlib.ExitStack, admin: LabelStudioClient) -> _Importer:
        in_flight: list[_Import] = []
        # Registered before the executor, so it runs after the executor has waited for an
        # import still in flight when the push fails: what Label Studio took is recorded.
        stack.callback(_imports_record_quietly, in_flight)
        import_client = stack.enter_context(connect(admin.url, admin.token))  # the importer's own
        importer = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="ls-push"))
        return cls(import_client, importer, in_flight)

    def submit(self, shard: LabelStudioProject, assignment_ids: list[int], data: list[dict]) -> None:
        """Starts this import once the previous one is done, then records the previous."""
        previous = self.in_flight.pop() if self.in_flight else None
        if previous is not None:
            previous.future.result()  # Label Studio is free again (or this raises)
        self.in_flight.append(
            _Import(
                shard=shard,
                assignment_ids=assignment_ids,
                future=self.executor.submit(import_tasks, self.client, shard.ls_project_id, data),
            )
        )
        if previous is not None:
            _import_record(previous)

    def finish(self) -> None:
        """Records the last import (a push that fails before this has it recorded on exit)."""
        if self.in_flight:
            _import_record(self.in_flight.pop())


def _record_found(client: LabelStudioClient, shards: list[LabelStudioProject], rows: list) -> list:
    """Records the tasks Label Studio already has for rows at or below the push mark (a
    push died after Label Studio took them: find, never re-import); returns the others."""
    mark = max(s.pushed_through_assignment_id for s in shards)
    maybe_sent = [r[0] for r in rows if r[0] <= mark]
    if not maybe_sent:
        return rows
    found: dict[int, dict[int, int]] = {}  # shard pk -> assignment id -> task id
    seen: set[int] = set()
    for candidate in shards:
        for assignment_id, task_id in find_tasks(client, candidate.ls_project_id, maybe_sent).items():
            if int(assignment_id) not in seen:
                seen.add(int(assignment_id))
                found.setdefault(candidate.pk, {})[int(assignment_id)] = task_id
    for candidate in shards:
        if candidate.pk in found:
            # Imported by a push that died before recording them: not counted yet either.
            _record_pushed(candidate, found[candidate.pk])
    return [r for r in rows if r[0] not in seen]
