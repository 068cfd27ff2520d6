"""Annotators' queues: one Label Studio saved view per account and shard, filtered on
the account's routing key, which is what hands an annotator their own tasks
(``/next?view=``), titled with the project and the annotator's number so that they know
their tab. Made after a push, or on the spot when an annotator is handed over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from annotation.client import LabelStudioClient
from annotation.queues import ensure_queue_views
from qianbiao.labelling import selectors
from qianbiao.labelling.client import label_studio_admin
from qianbiao.labelling.models import LabelStudioAccount, LabelStudioProject, LabelStudioQueue
from qianbiao.projects.models import Assignment, AssignmentState, DatasetProject
from qianbiao.workforce.models import Annotator


def queue_titles(*, shard: LabelStudioProject, accounts: Iterable[LabelStudioAccount]) -> dict[str, str]:
    """Routing key -> the tab title of its queue: the project's name and the annotator's
    number (what the annotator knows themselves by; never their name or phone, since a
    project's views are listed to its members)."""
    accounts = list(accounts)
    project = DatasetProject.objects.only("name").get(pk=shard.project_id)
    codes = dict(Annotator.objects.filter(ls_account__in=accounts).values_list("ls_account__pk", "code"))
    part = f" ({shard.shard + 1})" if shard.shard else ""
    return {a.routing_key: f"{project.name}{part} · {codes.get(a.pk, a.pk)}"[:200] for a in accounts}


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
        views = ensure_queue_views(
            client,
            shard.ls_project_id,
            [a.routing_key for a in missing],
            titles=queue_titles(shard=shard, accounts=missing),
        )
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
    queues = list(
        LabelStudioQueue.objects.filter(
            account__annotator_id=annotator_id, ls_project__project_id__in=projects
        )
        .select_related("ls_project")
        .order_by("ls_project__project_id", "ls_project__shard")
    )
    return sorted(queues, key=lambda q: (q.ls_project.project_id, not _has_open_work(q, annotator_id)))


def _has_open_work(queue: LabelStudioQueue, annotator_id: int) -> bool:
    """Whether the queue's shard holds open work of the annotator's: the hand-off lands on
    such a queue before an emptied one of an older shard."""
    shard = queue.ls_project
    if shard.min_ls_task_id is None:
        return False
    return Assignment.objects.filter(
        project_id=shard.project_id,
        annotator_id=annotator_id,
        state=AssignmentState.OPEN,
        ls_task_id__gte=shard.min_ls_task_id,
        ls_task_id__lte=shard.max_ls_task_id,
    ).exists()
