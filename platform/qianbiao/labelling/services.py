"""Writes for the Label Studio side of the platform: projects (shards), annotator
accounts and queues, pushing assignments, and taking annotations back.

Label Studio is reached only through the adapter's public functions (``annotation``).
The database is the source of truth: every function here can be run again after a
crash or a duplicated message and changes nothing that is already done.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest, Least, Now
from django.utils import timezone

from annotation.accounts import deactivate_account, invite_token, login_token, register_annotator
from annotation.annotations import export_annotations
from annotation.client import LabelStudioClient, connect
from annotation.errors import LabelStudioError, LabelStudioNotFound
from annotation.projects import create_project, delete_project
from annotation.queues import ensure_queue_views
from annotation.signing import route_key_for
from annotation.tasks import delete_task, find_tasks, import_tasks
from annotation.types import AnnotatorLogin, TaskSpec, WebhookEvent
from annotation.types import LabelStudioAnnotation as LSAnnotation
from annotation.webhooks import ANNOTATION_ACTIONS, register_webhook
from qianbiao.core.locks import advisory_lock
from qianbiao.labelling import selectors
from qianbiao.labelling.models import (
    Annotation,
    LabelStudioAccount,
    LabelStudioEvent,
    LabelStudioProject,
    LabelStudioQueue,
)
from qianbiao.projects.models import Assignment, AssignmentState, DatasetProject
from qianbiao.workforce.models import Annotator, AnnotatorStatus
from workers import enqueue

logger = logging.getLogger(__name__)

ACCOUNT_DOMAIN = "annotators.qianbiao.invalid"
EXPORT_CHUNK = 500  # task ids per export call when reconciling
PROVISION_THREADS = 4  # concurrent Label Studio sign-ups
# Reconciliation re-reads submitted work this recent: edits and deletions in Label Studio
# happen soon after submission; older work is what quality control has already used.
RECENTLY_SUBMITTED = timedelta(hours=24)
DELETION_MARGIN = timedelta(seconds=60)
_LOCK_NAMESPACE = 0x5142  # pg advisory lock namespace of pushes ("QB")


@contextlib.contextmanager
def label_studio_admin() -> Iterator[LabelStudioClient]:
    with connect(settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY) as client:
        yield client


# --------------------------------------------------------------------------- projects


def _shard_create(client: LabelStudioClient, *, project: DatasetProject, shard: int) -> LabelStudioProject:
    """A new Label Studio project for one shard: config validated by Label Studio
    first (``LabelConfigError``), webhook registered with our secret header."""
    created = create_project(
        client,
        title=f"{project.name} · {project.pk}/{shard}"[:50],
        label_config=project.label_config,
        maximum_annotations=1,  # one task per assignment: overlap lives in our assignments
    )
    try:
        webhook = register_webhook(
            client,
            settings.LABEL_STUDIO_WEBHOOK_URL,
            settings.LABEL_STUDIO_WEBHOOK_SECRET,
            project_id=created.id,
        )
        with transaction.atomic():
            return LabelStudioProject.objects.create(
                project=project, shard=shard, ls_project_id=created.id, webhook_id=webhook.id
            )
    except IntegrityError:
        # Another worker made this shard first: ours is an empty duplicate.
        delete_project(client, created.id)
        return LabelStudioProject.objects.get(project=project, shard=shard)
    except Exception:
        delete_project(client, created.id)
        raise


def project_provision_label_studio(
    *, project_id: int, client: LabelStudioClient | None = None
) -> list[LabelStudioProject]:
    """The project's shards, creating the first one if there is none yet."""
    shards = selectors.project_shards(project_id=project_id)
    if shards:
        return shards
    project = DatasetProject.objects.get(pk=project_id)
    if client is None:
        with label_studio_admin() as admin:
            return [_shard_create(admin, project=project, shard=0)]
    return [_shard_create(client, project=project, shard=0)]


# --------------------------------------------------------------------------- accounts


def annotator_ls_email(*, annotator_id: int, generation: str = "") -> str:
    """Pseudonymous: Label Studio shows it to every member. Never personal data.
    A rehired annotator's new account carries a generation suffix (see below)."""
    suffix = f".{generation}" if generation else ""
    return f"a{annotator_id}{suffix}@{ACCOUNT_DOMAIN}"


def _ls_password(email: str) -> str:
    # Derived, not stored: a retried provisioning logs in with the same password.
    # (Rotating SECRET_KEY changes it; reset passwords in Label Studio if you do.)
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"label-studio-account:{email}".encode(), hashlib.sha256).hexdigest()[:40]


def annotators_provision_label_studio(
    *, annotator_ids: Iterable[int], client: LabelStudioClient | None = None
) -> dict[int, LabelStudioAccount]:
    """A Label Studio account (that can act as itself) for each active annotator
    without one; idempotent. Returns the accounts by annotator id (leavers left out).

    A rehired annotator whose account was deactivated gets a new Label Studio user
    (Label Studio OSS cannot restore a membership) with a new routing key, so their
    old queue views show nothing; their account row moves to the new user.
    """
    wanted = list(dict.fromkeys(annotator_ids))
    accounts = {a.annotator_id: a for a in LabelStudioAccount.objects.filter(annotator_id__in=wanted)}
    stale = {pk for pk, account in accounts.items() if not account.is_active}
    missing = list(
        Annotator.objects.filter(
            pk__in=[i for i in wanted if i not in accounts or i in stale], status=AnnotatorStatus.ACTIVE
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not missing:
        return accounts

    emails = {}
    for annotator_id in missing:
        previous = accounts.get(annotator_id)
        # Derived from the account it replaces: a retried rehire signs in to the same user.
        generation = _ls_password(f"{annotator_id}:{previous.ls_user_id}")[:6] if previous else ""
        emails[annotator_id] = annotator_ls_email(annotator_id=annotator_id, generation=generation)

    with contextlib.ExitStack() as stack:
        admin = client or stack.enter_context(label_studio_admin())
        invite = invite_token(admin)
        # Sign-ups are mostly Label Studio hashing a password (which frees its GIL): a few
        # at a time use every core it has. Our rows are written here, one at a time.
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=PROVISION_THREADS))
        logins = pool.map(
            lambda email: register_annotator(admin.url, invite, email, _ls_password(email)), emails.values()
        )
        for (annotator_id, email), login in zip(emails.items(), logins, strict=True):
            key = route_key_for(login.user_id, settings.LABEL_STUDIO_QIANBIAO_SECRET)
            fields = {"ls_user_id": login.user_id, "email": email, "routing_key": key}
            try:
                with transaction.atomic():
                    if annotator_id in stale:
                        account = accounts[annotator_id]
                        if LabelStudioAccount.objects.filter(pk=account.pk, is_active=False).update(
                            is_active=True, **fields
                        ):
                            LabelStudioQueue.objects.filter(account=account).delete()
                    else:
                        LabelStudioAccount.objects.create(annotator_id=annotator_id, **fields)
            except IntegrityError:  # provisioned concurrently: same LS user, one row
                pass
            accounts[annotator_id] = LabelStudioAccount.objects.get(annotator_id=annotator_id)
    return accounts


def annotator_provision_label_studio(*, annotator_id: int) -> LabelStudioAccount | None:
    return annotators_provision_label_studio(annotator_ids=[annotator_id]).get(annotator_id)


def annotator_label_studio_login(*, annotator_id: int) -> AnnotatorLogin:
    """The annotator's own Label Studio token (what an SSO hand-off would give them)."""
    account = LabelStudioAccount.objects.get(annotator_id=annotator_id, is_active=True)
    return login_token(settings.LABEL_STUDIO_URL, account.email, _ls_password(account.email))


def accounts_deactivate_leavers(*, client: LabelStudioClient | None = None) -> int:
    """Removes leavers and suspended annotators from the Label Studio organisation
    (a rehired one gets a new account from ``annotators_provision_label_studio``)."""
    done = 0
    with contextlib.ExitStack() as stack:
        for account in selectors.accounts_of_leavers():
            admin = client or stack.enter_context(label_studio_admin())
            client = admin
            deactivate_account(admin, account.ls_user_id)
            LabelStudioAccount.objects.filter(pk=account.pk).update(is_active=False)
            done += 1
    return done


def queues_ensure(
    client: LabelStudioClient, *, shard: LabelStudioProject, accounts: Iterable[LabelStudioAccount]
) -> dict[int, int]:
    """Account id -> saved-view id of its queue in ``shard``, creating missing views."""
    accounts = {a.pk: a for a in accounts}
    have = dict(
        LabelStudioQueue.objects.filter(ls_project=shard, account_id__in=accounts).values_list(
            "account_id", "ls_view_id"
        )
    )
    missing = [a for pk, a in accounts.items() if pk not in have]
    if missing:
        views = ensure_queue_views(client, shard.ls_project_id, [a.routing_key for a in missing])
        LabelStudioQueue.objects.bulk_create(
            [
                LabelStudioQueue(account=a, ls_project=shard, ls_view_id=views[a.routing_key].id)
                for a in missing
            ],
            ignore_conflicts=True,
        )
        have.update({a.pk: views[a.routing_key].id for a in missing})
    return have


def _queues_missing(*, project_id: int, annotator_id: int | None = None) -> dict[int, set[int]]:
    """Shard pk -> accounts with open pushed work in that shard but no queue there yet."""
    missing: dict[int, set[int]] = {}
    for shard in selectors.project_shards(project_id=project_id):
        if shard.min_ls_task_id is None:
            continue
        work = Assignment.objects.filter(
            project_id=project_id,
            state=AssignmentState.OPEN,
            ls_task_id__gte=shard.min_ls_task_id,
            ls_task_id__lte=shard.max_ls_task_id,
            annotator__ls_account__is_active=True,
        ).exclude(annotator__ls_account__queues__ls_project=shard)
        if annotator_id is not None:
            work = work.filter(annotator_id=annotator_id)
        accounts = set(work.values_list("annotator__ls_account", flat=True).distinct())
        if accounts:
            missing[shard.pk] = accounts
    return missing


def queues_ensure_for_project(*, project_id: int, client: LabelStudioClient | None = None) -> int:
    """A queue view in every shard for every account with open pushed work there; returns
    how many were made. Runs after a push (a Celery task), not inside it: one view costs a
    Label Studio request, paid once per annotator and shard rather than per push."""
    missing = _queues_missing(project_id=project_id)
    if not missing:
        return 0
    made = 0
    with contextlib.ExitStack() as stack:
        admin = client or stack.enter_context(label_studio_admin())
        shards = {s.pk: s for s in selectors.project_shards(project_id=project_id)}
        for shard_pk, account_ids in missing.items():
            accounts = LabelStudioAccount.objects.filter(pk__in=account_ids)
            made += len(account_ids)
            queues_ensure(admin, shard=shards[shard_pk], accounts=accounts)
    return made


def annotator_queues_open(
    *, annotator_id: int, project_id: int | None = None, client: LabelStudioClient | None = None
) -> list[LabelStudioQueue]:
    """The annotator's queues in the projects where they have open work in Label Studio
    (or in ``project_id``), making any the push's follow-up has not made yet: what hands
    the annotator over to Label Studio (``/next?view=``). First shard first."""
    projects = (
        [project_id]
        if project_id is not None
        else list(
            Assignment.objects.filter(
                annotator_id=annotator_id, state=AssignmentState.OPEN, ls_task_id__isnull=False
            )
            .values_list("project_id", flat=True)
            .distinct()
        )
    )
    with contextlib.ExitStack() as stack:
        for pid in projects:
            missing = _queues_missing(project_id=pid, annotator_id=annotator_id)
            if not missing:
                continue
            admin = client or stack.enter_context(label_studio_admin())
            client = admin
            for shard in LabelStudioProject.objects.filter(pk__in=missing):
                queues_ensure(
                    admin, shard=shard, accounts=LabelStudioAccount.objects.filter(pk__in=missing[shard.pk])
                )
    return list(
        LabelStudioQueue.objects.filter(
            account__annotator_id=annotator_id, ls_project__project_id__in=projects
        )
        .select_related("ls_project")
        .order_by("ls_project__project_id", "ls_project__shard")
    )


# --------------------------------------------------------------------------- push


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
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Two array parameters, not two per row: psycopg parses thousands of
                # placeholders slowly.
                cursor.execute(
                    f"UPDATE {Assignment._meta.db_table} a SET ls_task_id = v.t "  # noqa: S608
                    "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, t) WHERE a.id = v.id",
                    [list(task_ids), list(task_ids.values())],
                )
        else:
            rows = [Assignment(pk=pk, ls_task_id=t) for pk, t in task_ids.items()]
            Assignment.objects.bulk_update(rows, ["ls_task_id"], batch_size=500)
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
        # Registered before the executor, so it runs after the executor has waited for an
        # import still in flight when the push fails: what Label Studio took is recorded.
        in_flight: list[_Import] = []
        stack.callback(_imports_record_quietly, in_flight)
        import_client = stack.enter_context(connect(admin.url, admin.token))  # the importer's own
        importer = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="ls-push"))
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
            accounts = annotators_provision_label_studio(annotator_ids={r[1] for r in rows}, client=admin)
            accounts = {k: a for k, a in accounts.items() if a.is_active}
            sendable = [r for r in rows if r[1] in accounts]
            outcome.skipped += len(rows) - len(sendable)  # leavers: the sweep revokes their work
            if not sendable:
                continue
            outcome.batches += 1
            outcome.pushed += len(sendable)
            to_send = _record_found(admin, shards, sendable)
            outcome.found_existing += len(sendable) - len(to_send)
            if not to_send:
                continue
            if shard_load + len(to_send) > settings.LABEL_STUDIO_SHARD_TASKS:
                shard = _shard_create(
                    admin, project=DatasetProject.objects.get(pk=project_id), shard=shards[-1].shard + 1
                )
                shards.append(shard)
                shard_load = 0
            shard = shards[-1]
            LabelStudioProject.objects.filter(pk=shard.pk).update(
                pushed_through_assignment_id=Greatest("pushed_through_assignment_id", to_send[-1][0]),
                pushed_through_at=Now(),
            )
            shard.pushed_through_assignment_id = max(shard.pushed_through_assignment_id, to_send[-1][0])
            data = [
                TaskSpec(
                    assignment_id=assignment_id,
                    route_key=accounts[annotator_id].routing_key,
                    data=item_data if isinstance(item_data, dict) else {"value": item_data},
                    item_id=external_id,
                ).task_data()
                for assignment_id, annotator_id, item_data, external_id in to_send
            ]
            previous = in_flight.pop() if in_flight else None
            if previous is not None:
                previous.future.result()  # Label Studio is free again (or this raises)
            in_flight.append(
                _Import(
                    shard=shard,
                    assignment_ids=[r[0] for r in to_send],
                    future=importer.submit(import_tasks, import_client, shard.ls_project_id, data),
                )
            )
            shard_load += len(to_send)
            outcome.created += len(to_send)
            if previous is not None:
                _import_record(previous)
        if in_flight:
            _import_record(in_flight.pop())
        LabelStudioProject.objects.filter(project_id=project_id).update(push_settled_at=Now())
        outcome.more_pending = (
            selectors.assignments_unpushed(project_id=project_id).filter(id__gt=after_id).exists()
        )
    return outcome


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


def assignments_withdraw_label_studio(*, limit: int = 1000, client: LabelStudioClient | None = None) -> int:
    """Expired and revoked assignments leave their annotator's queue: any annotation
    already made on the task is fetched first (and kept, flagged), then the task is
    deleted from Label Studio and ``ls_task_id`` cleared."""
    ended = list(
        selectors.assignments_ended_in_label_studio().values_list("id", "project_id", "ls_task_id")[:limit]
    )
    if not ended:
        return 0
    with contextlib.ExitStack() as stack:
        admin = client or stack.enter_context(label_studio_admin())
        by_project: dict[int, list[tuple[int, int]]] = {}
        for assignment_id, project_id, task_id in ended:
            by_project.setdefault(project_id, []).append((assignment_id, task_id))
        for project_id, pairs in by_project.items():
            _reconcile_tasks(admin, project_id=project_id, task_ids=[t for _, t in pairs])
            for assignment_id, task_id in pairs:
                with contextlib.suppress(LabelStudioNotFound):
                    delete_task(admin, task_id)
                Assignment.objects.filter(pk=assignment_id, ls_task_id=task_id).update(ls_task_id=None)
    return len(ended)


# --------------------------------------------------------------------------- back


@dataclass
class IngestOutcome:
    created: int = 0
    updated: int = 0
    flagged: int = 0
    unknown: int = 0
    submitted: int = 0
    deleted: int = 0
    reopened: int = 0
    submitted_ids: list[int] = field(default_factory=list)


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def annotations_ingest(
    *, ls_project_id: int | None, annotations: Iterable[LSAnnotation], via: str = "webhook"
) -> IngestOutcome:
    """Records annotations from Label Studio against their assignments.

    An annotation counts only when its Label Studio user is the assignee's account,
    it was not skipped, the assignment is live and has no counted annotation yet;
    otherwise it is kept, flagged, with the reason. A counted one submits an open
    assignment. One already recorded (same Label Studio id) is updated in place
    (ANNOTATION_UPDATED, or a reconciliation that runs twice): never duplicated.
    """
    outcome = IngestOutcome()
    annotations = list(annotations)
    if not annotations:
        return outcome
    shard = None
    if ls_project_id is not None:
        shard = LabelStudioProject.objects.filter(ls_project_id=ls_project_id).first()
        if shard is None:
            outcome.unknown = len(annotations)
            return outcome
    with transaction.atomic():
        by_id_wanted = {_as_int(a.assignment_id) for a in annotations} - {None}
        by_task_wanted = {a.task_id for a in annotations if _as_int(a.assignment_id) is None}
        qs = Assignment.objects.select_for_update().order_by("id")
        if shard is not None:
            qs = qs.filter(project_id=shard.project_id)
        assignments = {a.pk: a for a in qs.filter(pk__in=by_id_wanted)}
        by_task = (
            {a.ls_task_id: a for a in qs.filter(ls_task_id__in=by_task_wanted)} if by_task_wanted else {}
        )
        existing = {
            a.ls_annotation_id: a
            for a in Annotation.objects.select_for_update().filter(
                ls_annotation_id__in=[a.id for a in annotations]
            )
        }
        users = dict(
            LabelStudioAccount.objects.filter(
                ls_user_id__in={a.completed_by for a in annotations if a.completed_by is not None}
            ).values_list("ls_user_id", "annotator_id")
        )
        live = {a.pk for a in assignments.values()} | {a.pk for a in by_task.values()}
        counted = set(
            Annotation.objects.filter(
                assignment_id__in=live, flagged=False, deleted_at__isnull=True
            ).values_list("assignment_id", flat=True)
        )
        to_submit: dict[int, datetime] = {}
        for ann in annotations:
            aid = _as_int(ann.assignment_id)
            assignment = assignments.get(aid) if aid is not None else by_task.get(ann.task_id)
            row = existing.get(ann.id)
            if row is not None:
                row.result, row.lead_time_s, row.ls_updated_at = ann.result, ann.lead_time, ann.updated_at
                row.was_cancelled = ann.was_cancelled
                row.save(update_fields=["result", "lead_time_s", "ls_updated_at", "was_cancelled"])
                outcome.updated += 1
                continue
            if assignment is None:
                outcome.unknown += 1
                logger.warning("Label Studio annotation %s answers no assignment of ours", ann.id)
                continue
            annotator_id = users.get(ann.completed_by)
            reason = ""
            if annotator_id is None:
                reason = "made by a Label Studio user who is not one of our annotators"
            elif annotator_id != assignment.annotator_id:
                reason = "made by someone other than the assignee"
            elif ann.was_cancelled:
                reason = "skipped in Label Studio"
            elif assignment.state not in (AssignmentState.OPEN, AssignmentState.SUBMITTED):
                reason = f"assignment {assignment.state} before the annotation arrived"
            elif assignment.pk in counted:
                reason = "the assignment already has a counted annotation"
            Annotation.objects.create(
                ls_annotation_id=ann.id,
                ls_task_id=ann.task_id,
                assignment=assignment,
                project_id=assignment.project_id,
                item_id=assignment.item_id,
                annotator_id=annotator_id,
                ls_user_id=ann.completed_by,
                result=ann.result,
                lead_time_s=ann.lead_time,
                was_cancelled=ann.was_cancelled,
                flagged=bool(reason),
                flag_reason=reason[:200],
                ls_created_at=ann.created_at,
                ls_updated_at=ann.updated_at,
                received_via=via,
            )
            outcome.created += 1
            if reason:
                outcome.flagged += 1
                continue
            counted.add(assignment.pk)
            if assignment.state == AssignmentState.OPEN:
                to_submit[assignment.pk] = ann.created_at or timezone.now()
        for pk, when in to_submit.items():
            outcome.submitted += Assignment.objects.filter(pk=pk, state=AssignmentState.OPEN).update(
                state=AssignmentState.SUBMITTED, submitted_at=when
            )
        # Quality control hears of these through beat's qianbiao.quality_sweep, which
        # decides ready items per project in one batch (consensus fits a whole project).
        outcome.submitted_ids = list(to_submit)
    return outcome


def annotations_delete(*, ls_annotation_ids: Iterable[int]) -> IngestOutcome:
    """Annotations deleted in Label Studio: kept here with ``deleted_at``; an assignment
    whose counted annotation went is open again (its task is back in the queue)."""
    outcome = IngestOutcome()
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Annotation.objects.select_for_update().filter(
                ls_annotation_id__in=list(ls_annotation_ids), deleted_at__isnull=True
            )
        )
        reopen = [r.assignment_id for r in rows if not r.flagged and r.assignment_id is not None]
        Annotation.objects.filter(pk__in=[r.pk for r in rows]).update(deleted_at=now)
        outcome.deleted = len(rows)
        outcome.reopened = Assignment.objects.filter(pk__in=reopen, state=AssignmentState.SUBMITTED).update(
            state=AssignmentState.OPEN, submitted_at=None
        )
    return outcome


def _annotation_json(ann: LSAnnotation) -> dict:
    data = asdict(ann)
    for key in ("created_at", "updated_at"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def _annotation_from_json(data: dict) -> LSAnnotation:
    data = dict(data)
    for key in ("created_at", "updated_at"):
        data[key] = datetime.fromisoformat(data[key]) if data.get(key) else None
    return LSAnnotation(**data)


def webhook_record(*, event: WebhookEvent) -> LabelStudioEvent | None:
    """Records a parsed delivery (nothing of the raw payload) and enqueues its ingestion."""
    if event.action not in ANNOTATION_ACTIONS:
        return None
    with transaction.atomic():
        row = LabelStudioEvent.objects.create(
            action=event.action,
            ls_project_id=event.project_id,
            annotations=[_annotation_json(a) for a in event.annotations],
            deleted_annotation_ids=list(event.deleted_annotation_ids),
        )
        enqueue.ingest_annotations([row.pk])
    return row


def events_ingest(*, event_ids: Iterable[int]) -> IngestOutcome:
    """Ingests recorded webhook deliveries not yet processed (a second run skips them)."""
    total = IngestOutcome()
    for event_id in event_ids:
        with transaction.atomic():
            event = (
                LabelStudioEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, processed_at__isnull=True)
                .first()
            )
            if event is None:
                continue
            if event.action == "ANNOTATIONS_DELETED":
                part = annotations_delete(ls_annotation_ids=event.deleted_annotation_ids)
            else:
                part = annotations_ingest(
                    ls_project_id=event.ls_project_id,
                    annotations=[_annotation_from_json(a) for a in event.annotations],
                    via="webhook",
                )
            event.processed_at = timezone.now()
            event.save(update_fields=["processed_at"])
        for name in ("created", "updated", "flagged", "unknown", "submitted", "deleted", "reopened"):
            setattr(total, name, getattr(total, name) + getattr(part, name))
    return total


# --------------------------------------------------------------------------- reconcile


def _reconcile_tasks(client: LabelStudioClient, *, project_id: int, task_ids: list[int]) -> IngestOutcome:
    """Ingests the export of these tasks (new annotations, edits), and marks deleted what
    we hold for them that the export no longer has."""
    total = IngestOutcome()
    shards = selectors.project_shards(project_id=project_id)
    per_shard: dict[int, list[int]] = {}
    for task_id in task_ids:
        shard = selectors.shard_for_task(shards=shards, ls_task_id=task_id)
        if shard is not None:
            per_shard.setdefault(shard.ls_project_id, []).append(task_id)
    for ls_project_id, ids in per_shard.items():
        for start in range(0, len(ids), EXPORT_CHUNK):
            chunk = ids[start : start + EXPORT_CHUNK]
            # What had arrived a while before the export must be in it unless deleted
            # (the margin covers a webhook that beats Label Studio's own commit).
            settled = timezone.now() - DELETION_MARGIN
            exported = list(export_annotations(client, ls_project_id, chunk))
            part = annotations_ingest(ls_project_id=ls_project_id, annotations=exported, via="reconcile")
            gone = (
                Annotation.objects.filter(
                    ls_task_id__in=chunk, deleted_at__isnull=True, received_at__lt=settled
                )
                .exclude(ls_annotation_id__in=[a.id for a in exported])
                .values_list("ls_annotation_id", flat=True)
            )
            deleted = annotations_delete(ls_annotation_ids=list(gone))
            part.deleted, part.reopened = deleted.deleted, deleted.reopened
            for name in ("created", "updated", "flagged", "unknown", "submitted", "deleted", "reopened"):
                setattr(total, name, getattr(total, name) + getattr(part, name))
    return total


def project_reconcile_label_studio(
    *,
    project_id: int,
    client: LabelStudioClient | None = None,
    submitted_within: timedelta = RECENTLY_SUBMITTED,
) -> IngestOutcome:
    """Fetches, through the export endpoint (500 task ids per call), the annotations of
    every task whose assignment is still open here, and of those submitted within
    ``submitted_within``: whatever was made, edited or deleted in Label Studio while the
    webhook or Qianbiao was down arrives. Idempotent."""
    recent = timezone.now() - submitted_within
    task_ids = list(
        Assignment.objects.filter(project_id=project_id, ls_task_id__isnull=False)
        .filter(Q(state=AssignmentState.OPEN) | Q(state=AssignmentState.SUBMITTED, submitted_at__gte=recent))
        .order_by("ls_task_id")
        .values_list("ls_task_id", flat=True)
    )
    if not task_ids:
        return IngestOutcome()
    with contextlib.ExitStack() as stack:
        admin = client or stack.enter_context(label_studio_admin())
        return _reconcile_tasks(admin, project_id=project_id, task_ids=task_ids)


__all__ = [
    "LabelStudioError",
    "accounts_deactivate_leavers",
    "annotations_delete",
    "annotations_ingest",
    "annotator_label_studio_login",
    "annotator_provision_label_studio",
    "annotator_queues_open",
    "annotators_provision_label_studio",
    "assignments_push",
    "assignments_withdraw_label_studio",
    "events_ingest",
    "project_provision_label_studio",
    "project_reconcile_label_studio",
    "queues_ensure_for_project",
    "webhook_record",
]
