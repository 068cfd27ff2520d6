"""Quality control on a schedule (beat: every sweep period).

Consensus methods such as Dawid-Skene fit a whole project's recent annotations
at once (seconds to minutes), so items are never decided one by one as
annotations arrive: the sweep decides every ready item of each active project in
one batch, re-deriving "ready" from the database, so a lost message costs a
minute, never a decision. Idempotent: an item with a result is not ready."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

from workers.app import app

QUALITY_SWEEP = "qianbiao.quality_sweep"
DECIDE_READY_ITEMS = "qianbiao.decide_ready_items"


@app.task(name=QUALITY_SWEEP, ignore_result=True, soft_time_limit=60, time_limit=90)
def quality_sweep() -> int:
    from qianbiao.projects.models import DatasetProject, ProjectStatus

    active = DatasetProject.objects.filter(status=ProjectStatus.ACTIVE).order_by("-priority")
    project_ids = list(active.values_list("pk", flat=True))
    for project_id in project_ids:
        decide_ready_items.delay(project_id)
    return len(project_ids)


@app.task(
    name=DECIDE_READY_ITEMS,
    ignore_result=True,
    acks_late=True,
    soft_time_limit=540,
    time_limit=600,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    max_retries=3,
)
def decide_ready_items(project_id: int) -> int:
    from qianbiao.quality.services import project_decide_ready, project_method_recheck

    project_method_recheck(project_id=project_id)  # a no-op until gold has grown by a quarter
    return len(project_decide_ready(project_id=project_id))
