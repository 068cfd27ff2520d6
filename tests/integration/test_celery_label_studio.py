"""The Label Studio backend driven by a real Celery worker process on a real Redis,
PostgreSQL and Label Studio: beat's sweep finds unpushed work, the worker pushes it and
makes the annotators' queues, an annotator labels through their queue, Label Studio's
webhook reaches the live server, which records the delivery and enqueues its ingestion
through the broker, and the worker submits the assignments.
"""

from __future__ import annotations

import pytest

from annotation.tasks import iter_tasks
from qianbiao.labelling import selectors
from qianbiao.labelling.models import Annotation, LabelStudioEvent, LabelStudioQueue
from qianbiao.projects.models import Assignment, AssignmentState
from tests.integration.celery_harness import wait_until
from tests.labelstudio.conftest import ls_settings, make_work  # noqa: F401 - fixture
from tests.labelstudio.test_label_studio_backend import label_own_queue
from workers.enqueue import LABEL_STUDIO_SWEEP

pytestmark = pytest.mark.integration


def _wait(predicate, worker, *, what, timeout=60):
    try:
        return wait_until(predicate, timeout=timeout, interval=0.2, what=what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n--- {worker.nodename}\n{worker.log_tail()}") from None


def test_the_worker_pushes_makes_queues_and_ingests_what_the_webhook_brings(
    ls_settings,  # noqa: F811
    live_server,
    broker,
    start_worker,
    ls_admin,
):
    ls_settings.LABEL_STUDIO_WEBHOOK_URL = f"{live_server.url}/hooks/label-studio/"
    project, people, assignments = make_work(annotators=2, items=6)
    worker = start_worker(
        "ls",
        env={
            name: str(getattr(ls_settings, name))
            for name in (
                "LABEL_STUDIO_URL",
                "LABEL_STUDIO_API_KEY",
                "LABEL_STUDIO_WEBHOOK_SECRET",
                "LABEL_STUDIO_WEBHOOK_URL",
            )
        },
    )

    broker.app.send_task(LABEL_STUDIO_SWEEP)
    _wait(
        lambda: not Assignment.objects.filter(project=project, ls_task_id__isnull=True).exists(),
        worker,
        what="every assignment pushed",
    )
    # The push's follow-up message makes one queue per annotator in the shard.
    _wait(lambda: LabelStudioQueue.objects.count() == 2, worker, what="both queues made")
    [shard] = selectors.project_shards(project_id=project.pk)
    in_ls = sorted(task.assignment_id for task in iter_tasks(ls_admin, shard.ls_project_id))
    assert in_ls == sorted(x.pk for x in assignments)

    labelled = label_own_queue(ls_settings, people[0], project=project, lead_time=1.5)
    assert len(labelled) == 3
    mine = Assignment.objects.filter(project=project, annotator=people[0])
    _wait(
        lambda: mine.filter(state=AssignmentState.SUBMITTED).count() == 3,
        worker,
        what="the worker ingesting the webhook deliveries",
    )
    assert LabelStudioEvent.objects.filter(processed_at__isnull=True).count() == 0
    assert sorted(Annotation.objects.values_list("assignment_id", flat=True)) == sorted(x.pk for x in mine)
    assert not Annotation.objects.filter(flagged=True).exists()
    assert not Assignment.objects.filter(annotator=people[1], state=AssignmentState.SUBMITTED).exists()
