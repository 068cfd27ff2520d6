"""Quality control on a schedule (beat: every sweep period).

Consensus methods such as Dawid-Skene fit a whole project's recent annotations
at once (seconds to minutes), so items are never decided one by one as
annotations arrive: the sweep decides every ready item of each active project in
one batch, re-deriving "ready" from the database, so a lost message costs a
minute, never a decision. Idempotent: an item with a result is not ready.

Re-measuring the consensus methods on gold (``project_method_recheck``) takes up
to tens of minutes on a large project, so it is a task of its own with its own
time limits: ``decide_ready_items`` enqueues it when it is due and decides at
once with the policy as it stands. The enqueue is recorded on the policy
(``method_recheck_attempted_at``), so a re-check still queued or running, or one
that failed or timed out, is not enqueued again for ``RECHECK_RETRY_AFTER``.

Both tasks run one at a time per project (a PostgreSQL session advisory lock, a
namespace each): a second message for the same project returns
at once. The re-check stays on the default ("maintenance") queue: the deployment
has no queue for long work.
"""

from __future__ import annotations

import logging

from celery.exceptions import SoftTimeLimitExceeded

from workers import enqueue
from workers.app import IDEMPOTENT, RETRY, app

logger = logging.getLogger(__name__)

# Advisory-lock namespaces (projects.distribution uses 0x51B1/0x51B2, pushes 0x5142).
DECIDE_LOCK_NAMESPACE = 0x51C1  # "deciding a project's ready items"
RECHECK_LOCK_NAMESPACE = 0x51C2  # "re-checking a project's consensus method"


@app.task(name=enqueue.QUALITY_SWEEP, soft_time_limit=60, time_limit=90, **RETRY, **IDEMPOTENT)
def quality_sweep() -> int:
    from qianbiao.projects.models import DatasetProject, ProjectStatus

    active = DatasetProject.objects.filter(status=ProjectStatus.ACTIVE).order_by("-priority")
    project_ids = list(active.values_list("pk", flat=True))
    for project_id in project_ids:
        enqueue.decide_ready_items(project_id)
    return len(project_ids)


@app.task(name=enqueue.DECIDE_READY_ITEMS, soft_time_limit=540, time_limit=600, **RETRY, **IDEMPOTENT)
def decide_ready_items(project_id: int) -> int:
    """Decide the project's ready items; returns how many were decided (0 when
    another worker holds the project, or the project is gone)."""
    from qianbiao.core.locks import advisory_lock
    from qianbiao.projects.models import DatasetProject
    from qianbiao.quality import decisions, recheck

    with advisory_lock(DECIDE_LOCK_NAMESPACE, project_id) as acquired:
        if not acquired:
            logger.info("project %s: decision already running elsewhere (locked), skipped", project_id)
            return 0
        try:
            if recheck.method_recheck_due(project_id=project_id):
                recheck.method_recheck_attempted(project_id=project_id)
                enqueue.recheck_quality_method(project_id)
                logger.info("project %s: consensus method re-check enqueued", project_id)
            return len(decisions.project_decide_ready(project_id=project_id))
        except DatasetProject.DoesNotExist:
            logger.info("project %s: deleted, nothing to decide", project_id)
            return 0


# Not acks_late: its hard limit (an hour) outlasts the broker's visibility timeout, so a
# still-running re-check would be delivered again; a lost one is re-enqueued by the sweep.
@app.task(name=enqueue.RECHECK_QUALITY_METHOD, soft_time_limit=3300, time_limit=3600)
def recheck_quality_method(project_id: int) -> str:
    """Re-measure the project's consensus methods on its gold and save the policy.
    Not retried: a failure or timeout is logged and recorded on the policy, and the
    sweep enqueues the next attempt after RECHECK_RETRY_AFTER."""
    from qianbiao.core.locks import advisory_lock
    from qianbiao.projects.models import DatasetProject
    from qianbiao.quality import recheck

    with advisory_lock(RECHECK_LOCK_NAMESPACE, project_id) as acquired:
        if not acquired:
            logger.info("project %s: method re-check already running elsewhere (locked), skipped", project_id)
            return "locked"
        retry = recheck.RECHECK_RETRY_AFTER
        try:
            # Recorded before the fit too: a worker killed at the hard limit records nothing after.
            recheck.method_recheck_attempted(project_id=project_id)
            recheck.project_method_recheck(project_id=project_id)
        except DatasetProject.DoesNotExist:
            logger.info("project %s: deleted, no method re-check", project_id)
            return "skipped"
        except SoftTimeLimitExceeded:
            recheck.method_recheck_attempted(project_id=project_id)
            logger.warning("project %s: method re-check timed out; next attempt in %s", project_id, retry)
            return "timed out"
        except Exception:
            logger.exception("project %s: method re-check failed; next attempt in %s", project_id, retry)
            try:
                recheck.method_recheck_attempted(project_id=project_id)
            except Exception:  # the database may be what failed
                logger.exception("project %s: could not record the failed re-check", project_id)
            raise
    return "checked"
