"""The quality sweep through a real Celery worker process on a real Redis and
PostgreSQL (bin/test starts both; this module skips without REDIS_URL).

The sweep message goes through the broker to the worker, which enqueues one
``decide_ready_items`` per active project through the broker again and runs
them in its pool. Data is committed (``transactional_db``) so that the worker,
a separate process on the same test database, sees it.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from qianbiao.labelling.models import Annotation
from qianbiao.projects.distribution import project_distribute
from qianbiao.projects.items import items_import
from qianbiao.projects.models import Assignment, Item, ItemState, ProjectStatus
from qianbiao.quality.models import AnnotatorQuality, QualityPolicy, Result, ResultMethod, Review
from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory
from tests.integration.celery_harness import wait_until
from tests.quality.conftest import CLASSIFICATION_CONFIG, CLASSIFY, annotate, choice
from workers import enqueue

pytestmark = pytest.mark.integration

DECIDED = re.compile(r"Task qianbiao\.decide_ready_items\[[^\]]+\] succeeded in [\d.]+s: (\d+)")
RECHECKED = re.compile(r"Task qianbiao\.recheck_quality_method\[[^\]]+\] succeeded in [\d.]+s: '(\w[\w ]*)'")


def _project(status=ProjectStatus.ACTIVE):
    return DatasetProjectFactory(
        task_type="text_classification",
        domain="minority_language",
        label_config=CLASSIFICATION_CONFIG,
        overlap=3,
        agreement_threshold=Decimal("0.6"),
        open_cap=1000,
        status=status,
    )


def _answered(project, answers: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Import, distribute and submit ``answers`` (external id → labels in slot order)."""
    items_import(project=project, rows=[{"external_id": k, "data": {"text": k}} for k in answers])
    project_distribute(project_id=project.pk)
    for external_id, labels in answers.items():
        slots = Assignment.objects.filter(project=project, item__external_id=external_id).order_by("slot")
        assert slots.count() == 3
        for assignment, label in zip(slots, labels, strict=False):
            annotate(assignment, choice(label))
    return dict(Item.objects.filter(project=project).values_list("external_id", "pk"))


def _decided_in_log(worker) -> list[int]:
    """Return values of the decide_ready_items runs the worker finished, in order."""
    return [int(n) for n in DECIDED.findall(worker.log_path.read_text(errors="replace"))]


def _wait(predicate, worker, *, what, timeout=30):
    try:
        return wait_until(predicate, timeout=timeout, interval=0.1, what=what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n--- {worker.nodename}\n{worker.log_tail()}") from None


def _written(projects):
    """What deciding writes: results, item states, reviews, annotators' credit."""
    return (
        sorted(
            Result.objects.filter(project__in=projects).values_list(
                "pk", "item_id", "label", "agreement", "decided_at", "updated_at"
            )
        ),
        sorted(Item.objects.filter(project__in=projects).values_list("pk", "state", "extra_slots")),
        Review.objects.filter(project__in=projects).count(),
        sorted(
            AnnotatorQuality.objects.filter(project__in=projects).values_list(
                "project_id", "annotator_id", "consensus_answered", "consensus_agreement_sum"
            )
        ),
    )


def test_the_sweep_decides_ready_items_once_through_the_broker_and_a_real_worker(start_worker, broker):
    facility = FacilityFactory()
    for _ in range(5):
        AnnotatorFactory(facility=facility, skills=CLASSIFY)
    agreed = {f"a{k}": ("owl", "owl", "owl") if k % 2 else ("cat", "cat", "dog") for k in range(12)}
    first, second = _project(), _project()
    items = _answered(first, {**agreed, "split": ("cat", "dog", "fox"), "short": ("owl", "owl")})
    items.update(_answered(second, {"b0": ("fox", "fox", "fox"), "b1": ("dog", "dog", "owl")}))
    paused = _project()
    paused_items = _answered(paused, {"p0": ("owl", "owl", "owl")})
    paused.status = ProjectStatus.PAUSED
    paused.save(update_fields=["status"])
    accepted = {items[k] for k in (*agreed, "b0", "b1")}
    # Creating the projects queued their distribution, done above already: dropped,
    # so that nothing hands "split" its extra slots while the test looks at it.
    broker.redis.delete("distribution")

    worker = start_worker("quality", concurrency=2)
    # Two sweeps at once: two decisions per active project, racing in the pool.
    for _ in range(2):
        broker.app.send_task(enqueue.QUALITY_SWEEP)
    _wait(lambda: len(_decided_in_log(worker)) == 4, worker, what="4 decide_ready_items runs")

    results = {r.item_id: r for r in Result.objects.all()}
    assert set(results) == accepted  # one Result per item (a one-to-one), only where agreed
    assert results[items["a1"]].label == choice("owl") and results[items["a1"]].agreement == 1.0
    assert results[items["a0"]].label == choice("cat")
    assert results[items["a0"]].agreement == pytest.approx(2 / 3)
    assert {r.method for r in results.values()} == {ResultMethod.MAJORITY_VOTE}
    split, short = Item.objects.get(pk=items["split"]), Item.objects.get(pk=items["short"])
    assert (split.extra_slots, split.state) == (2, ItemState.PENDING)  # widened once, not reviewed
    assert (short.extra_slots, short.state) == (0, ItemState.ASSIGNED)  # its third answer is out
    assert not Review.objects.exists()
    assert not Result.objects.filter(item_id__in=paused_items.values()).exists()
    # Annotators are credited once per accepted item they answered.
    credited = {
        (q.project_id, q.annotator_id): q.consensus_answered
        for q in AnnotatorQuality.objects.filter(consensus_answered__gt=0)
    }
    answered = list(Annotation.objects.filter(item_id__in=accepted).values_list("project_id", "annotator_id"))
    assert credited == {key: sum(1 for a in answered if a == key) for key in set(answered)}, (
        "an item was credited twice"
    )
    log = worker.log_path.read_text(errors="replace")
    assert "raised unexpected" not in log and "Traceback" not in log, worker.log_tail()

    # A later sweep finds nothing ready and changes nothing.
    before = _written([first, second, paused])
    broker.app.send_task(enqueue.QUALITY_SWEEP)
    _wait(lambda: len(_decided_in_log(worker)) == 6, worker, what="2 more decide_ready_items runs")
    assert _decided_in_log(worker)[4:] == [0, 0]
    assert _written([first, second, paused]) == before


def test_the_sweep_enqueues_a_due_method_recheck_that_the_worker_runs_once(start_worker, broker):
    facility = FacilityFactory()
    for _ in range(5):
        AnnotatorFactory(facility=facility, skills=CLASSIFY)
    project = _project()
    items = _answered(project, {"g0": ("owl", "owl", "cat"), "a0": ("cat", "cat", "cat")})
    Item.objects.filter(pk=items["g0"]).update(is_gold=True, gold_answer={"label": "owl"})
    broker.redis.delete("distribution")

    worker = start_worker("quality", concurrency=2)
    broker.app.send_task(enqueue.QUALITY_SWEEP)
    _wait(lambda: len(_decided_in_log(worker)) == 1, worker, what="a decide_ready_items run")
    _wait(
        lambda: RECHECKED.findall(worker.log_path.read_text(errors="replace")),
        worker,
        what="a recheck_quality_method run",
        timeout=120,
    )
    log = worker.log_path.read_text(errors="replace")
    assert RECHECKED.findall(log) == ["checked"], worker.log_tail()
    assert _decided_in_log(worker) == [1]  # decided without waiting for the re-check
    policy = QualityPolicy.objects.get(project=project)
    assert policy.method_checked_gold == 3 and policy.chosen_method and policy.method_scores

    # The next sweep decides again but enqueues no second re-check.
    broker.app.send_task(enqueue.QUALITY_SWEEP)
    _wait(lambda: len(_decided_in_log(worker)) == 2, worker, what="a second decide_ready_items run")
    log = worker.log_path.read_text(errors="replace")
    assert log.count("qianbiao.recheck_quality_method[") == 2, worker.log_tail()  # received, succeeded
    assert "Traceback" not in log, worker.log_tail()
