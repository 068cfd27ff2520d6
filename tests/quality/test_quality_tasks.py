"""The quality sweep's Celery glue (workers/quality.py), in this process.

``quality_sweep`` enqueues ``decide_ready_items`` for every active project;
that task enqueues a re-check of the project's consensus method when one is due
(``recheck_quality_method``, not waited for), then decides its ready items
(qianbiao.quality.decisions and .recheck). Both run one at a time per project. Tasks run
here through ``apply()``, Celery's own request with its retries; the real Redis
broker and worker process are exercised in tests/integration/test_celery_quality.py.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, connection
from django.utils import timezone

from qianbiao.labelling.models import Annotation
from qianbiao.projects.distribution import project_distribute
from qianbiao.projects.items import items_import
from qianbiao.projects.models import Assignment, Item, ItemState, ProjectStatus
from qianbiao.quality import decisions, recheck
from qianbiao.quality.models import AnnotatorQuality, QualityPolicy, Result, ResultMethod, Review
from tests.quality.conftest import annotate, choice
from workers import enqueue, quality
from workers.app import app

pytestmark = pytest.mark.django_db

# external id → the labels its annotators give (slot order). With overlap 3 and an
# agreement threshold of 0.6: two items are accepted, one gets more annotators,
# and one still waits for its third answer.
ANSWERS = {
    "clear": ("owl", "owl", "owl"),
    "majority": ("cat", "cat", "dog"),
    "split": ("cat", "dog", "fox"),
    "short": ("owl", "owl"),
}
READY = ("clear", "majority", "split")


@pytest.fixture
def annotated(classification_project, classifiers):
    """A classification project whose items were distributed and (partly) answered."""

    def make():
        project = classification_project(overlap=3, agreement_threshold=Decimal("0.6"))
        items_import(project=project, rows=[{"external_id": k, "data": {"text": k}} for k in ANSWERS])
        project_distribute(project_id=project.pk)
        for external_id, labels in ANSWERS.items():
            slots = Assignment.objects.filter(project=project, item__external_id=external_id).order_by("slot")
            for assignment, label in zip(slots, labels, strict=False):
                annotate(assignment, choice(label))
        return project, dict(Item.objects.filter(project=project).values_list("external_id", "pk"))

    classifiers(5)
    return make


@pytest.fixture
def service_calls(monkeypatch):
    """Calls of the two services the task uses, passed through to the real ones."""
    calls: list[tuple[str, tuple, dict]] = []
    for module, name in ((recheck, "project_method_recheck"), (decisions, "project_decide_ready")):
        real = getattr(module, name)

        def spy(*args, _name=name, _real=real, **kwargs):
            calls.append((_name, args, kwargs))
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    return calls


def _decided_state(project):
    """Everything a decision writes, to compare before and after a second run."""
    return (
        sorted(
            Result.objects.filter(project=project).values_list(
                "pk", "item_id", "label", "method", "agreement", "decided_at", "updated_at"
            )
        ),
        sorted(Item.objects.filter(project=project).values_list("pk", "state", "extra_slots")),
        Review.objects.filter(project=project).count(),
        sorted(
            AnnotatorQuality.objects.filter(project=project).values_list(
                "annotator_id", "consensus_answered", "consensus_agreement_sum", "score"
            )
        ),
    )


def test_the_sweep_enqueues_one_decision_per_active_project_highest_priority_first(
    classification_project, monkeypatch
):
    low = classification_project(priority=1)
    high = classification_project(priority=9)
    for status in (ProjectStatus.DRAFT, ProjectStatus.PAUSED, ProjectStatus.COMPLETED):
        classification_project(status=status, priority=50)
    sent: list[tuple] = []
    monkeypatch.setattr(enqueue, "decide_ready_items", lambda *args: sent.append(args))

    assert quality.quality_sweep.apply().get() == 2
    assert sent == [(high.pk,), (low.pk,)]

    # The sweep keeps no state: the next one asks again; deciding is what is idempotent.
    assert quality.quality_sweep.apply().get() == 2
    assert sent == [(high.pk,), (low.pk,)] * 2


def test_decide_ready_items_decides_the_project_given_by_id_through_the_services(annotated, service_calls):
    project, item = annotated()
    other, other_item = annotated()

    decided = quality.decide_ready_items.apply(args=(project.pk,)).get()

    # The decisions, by id, keyword-only; the method re-check is not run here (and not
    # due: no gold).
    assert service_calls == [("project_decide_ready", (), {"project_id": project.pk})]
    assert decided == len(READY)
    results = {r.item_id: r for r in Result.objects.all()}
    assert set(results) == {item["clear"], item["majority"]}  # nothing of the other project
    assert (results[item["clear"]].label, results[item["clear"]].agreement) == (choice("owl"), 1.0)
    assert results[item["majority"]].label == choice("cat")
    assert results[item["majority"]].agreement == pytest.approx(2 / 3)
    assert {r.method for r in results.values()} == {ResultMethod.MAJORITY_VOTE}
    states = dict(Item.objects.filter(project=project).values_list("external_id", "state"))
    assert states == {
        "clear": ItemState.ACCEPTED,
        "majority": ItemState.ACCEPTED,
        "split": ItemState.PENDING,  # agreement 1/3: two more annotators
        "short": ItemState.ASSIGNED,  # its third answer is still out
    }
    assert Item.objects.get(pk=item["split"]).extra_slots == 2
    assert not Result.objects.filter(project=other).exists()
    assert Item.objects.get(pk=other_item["split"]).extra_slots == 0


def test_decide_ready_items_run_twice_decides_each_item_once(annotated, service_calls):
    project, item = annotated()
    assert quality.decide_ready_items.apply(args=(project.pk,)).get() == len(READY)
    after_first = _decided_state(project)
    credited = dict(
        AnnotatorQuality.objects.filter(project=project).values_list("annotator_id", "consensus_answered")
    )
    # Each annotator is credited once per accepted item they answered.
    answered = Annotation.objects.filter(item_id__in=[item["clear"], item["majority"]])
    assert credited == {a: answered.filter(annotator_id=a).count() for a in credited}

    assert quality.decide_ready_items.apply(args=(project.pk,)).get() == 0

    assert _decided_state(project) == after_first
    assert [name for name, _, _ in service_calls] == ["project_decide_ready"] * 2


def test_a_database_hiccup_is_retried_and_any_other_error_is_not(annotated, monkeypatch):
    project, _ = annotated()
    real = decisions.project_decide_ready
    attempts: list[int] = []

    def fails_once(**kwargs):
        attempts.append(kwargs["project_id"])
        if len(attempts) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(decisions, "project_decide_ready", fails_once)
    assert quality.decide_ready_items.apply(args=(project.pk,)).get() == len(READY)
    assert attempts == [project.pk, project.pk]

    def broken(**kwargs):
        attempts.append(kwargs["project_id"])
        raise ValueError("a bug, not a hiccup")

    monkeypatch.setattr(decisions, "project_decide_ready", broken)
    outcome = quality.decide_ready_items.apply(args=(project.pk,))
    assert outcome.failed() and isinstance(outcome.result, ValueError)
    assert attempts == [project.pk] * 3  # tried once


def test_quality_task_names_queue_and_schedule():
    route = app.amqp.router.route
    for name in (enqueue.QUALITY_SWEEP, enqueue.DECIDE_READY_ITEMS, enqueue.RECHECK_QUALITY_METHOD):
        assert name in app.tasks
        assert route({}, name)["queue"].name == "maintenance"
    decide = app.tasks[enqueue.DECIDE_READY_ITEMS]
    assert decide.acks_late and decide.soft_time_limit < decide.time_limit
    # The re-check fits every method (about 20 minutes on a large project): far longer limits.
    recheck = app.tasks[enqueue.RECHECK_QUALITY_METHOD]
    assert decide.time_limit < recheck.soft_time_limit < recheck.time_limit
    assert recheck.soft_time_limit >= 3000
    assert app.conf.beat_schedule["quality-sweep"]["task"] == enqueue.QUALITY_SWEEP


# --- the method re-check: its own task, enqueued when due, one at a time per project ---


@pytest.fixture
def enqueued_rechecks(monkeypatch):
    """Project ids of the re-checks decide_ready_items enqueues (not run)."""
    sent: list[tuple] = []
    monkeypatch.setattr(enqueue, "recheck_quality_method", lambda *args: sent.append(args))
    return sent


def _with_gold(project, item):
    """Make the item "short" gold: its two answers become gold answers, so a
    re-check is due, and the ready items stay the same (gold is never "ready")."""
    Item.objects.filter(pk=item["short"]).update(is_gold=True, gold_answer={"label": "owl"})
    return project


def _policy(project):
    return QualityPolicy.objects.get(project=project)


def test_decide_does_not_wait_for_the_recheck_and_enqueues_it_only_when_due(
    annotated, service_calls, enqueued_rechecks
):
    project, item = annotated()
    plain, _ = annotated()
    _with_gold(project, item)

    assert quality.decide_ready_items.apply(args=(project.pk,)).get() == len(READY)
    assert quality.decide_ready_items.apply(args=(plain.pk,)).get() == len(READY)

    # Enqueued for the project with new gold only, and decided without it.
    assert enqueued_rechecks == [(project.pk,)]
    assert [name for name, _, _ in service_calls] == ["project_decide_ready"] * 2
    policy = _policy(project)
    assert policy.method_checked_at is None and policy.method_recheck_attempted_at is not None
    assert _policy(plain).method_recheck_attempted_at is None

    # The next sweeps do not enqueue it again while it may still be queued or running...
    assert quality.decide_ready_items.apply(args=(project.pk,)).get() == 0
    assert enqueued_rechecks == [(project.pk,)]
    # ... but do once RECHECK_RETRY_AFTER has passed without a check.
    long_ago = timezone.now() - recheck.RECHECK_RETRY_AFTER - dt.timedelta(minutes=1)
    QualityPolicy.objects.filter(project=project).update(method_recheck_attempted_at=long_ago)
    quality.decide_ready_items.apply(args=(project.pk,)).get()
    assert enqueued_rechecks == [(project.pk,)] * 2


def test_the_recheck_task_saves_the_policy_and_then_is_not_due(annotated, enqueued_rechecks):
    project, item = annotated()
    _with_gold(project, item)

    assert quality.recheck_quality_method.apply(args=(project.pk,)).get() == "checked"

    policy = _policy(project)
    assert policy.method_checked_at is not None
    assert policy.method_checked_gold == 2  # the two answers on the gold item
    assert {s["method"] for s in policy.method_scores} == set(recheck.CANDIDATE_METHODS)
    assert policy.chosen_method  # majority vote with this little gold
    assert policy.method_recheck_attempted_at is not None
    # Checked on this gold: not due again, even after the retry delay, until gold grows.
    long_ago = timezone.now() - recheck.RECHECK_RETRY_AFTER - dt.timedelta(minutes=1)
    QualityPolicy.objects.filter(project=project).update(method_recheck_attempted_at=long_ago)
    assert not recheck.method_recheck_due(project_id=project.pk)
    quality.decide_ready_items.apply(args=(project.pk,)).get()
    assert enqueued_rechecks == []


@pytest.mark.parametrize("task", ["decide", "recheck"])
def test_a_second_message_for_a_locked_project_returns_without_work(
    annotated, service_calls, enqueued_rechecks, task
):
    project, item = annotated()
    _with_gold(project, item)
    namespace = {"decide": quality.DECIDE_LOCK_NAMESPACE, "recheck": quality.RECHECK_LOCK_NAMESPACE}[task]
    run = {
        "decide": lambda: quality.decide_ready_items.apply(args=(project.pk,)).get(),
        "recheck": lambda: quality.recheck_quality_method.apply(args=(project.pk,)).get(),
    }[task]
    other = connection.copy()  # another session: another worker holding the project
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [namespace, project.pk])
        assert run() == {"decide": 0, "recheck": "locked"}[task]
        assert service_calls == [] and enqueued_rechecks == []
        assert not Result.objects.filter(project=project).exists()
        assert not QualityPolicy.objects.filter(project=project, method_checked_at__isnull=False).exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, project.pk])
    finally:
        other.close()
    # Released: the next message does the work (and released its own lock: twice).
    assert run() == {"decide": len(READY), "recheck": "checked"}[task]
    assert run() == {"decide": 0, "recheck": "checked"}[task]


@pytest.mark.parametrize("failure", [SoftTimeLimitExceeded(), RuntimeError("a bug in a method")])
def test_a_timed_out_or_failed_recheck_is_recorded_and_not_reenqueued_by_the_next_sweep(
    annotated, enqueued_rechecks, monkeypatch, caplog, failure
):
    project, item = annotated()
    _with_gold(project, item)

    def fails(**kwargs):
        raise failure

    monkeypatch.setattr(recheck, "project_method_recheck", fails)
    before = timezone.now()
    with caplog.at_level(logging.WARNING, logger="workers.quality"):
        outcome = quality.recheck_quality_method.apply(args=(project.pk,))
    if isinstance(failure, SoftTimeLimitExceeded):
        assert outcome.get() == "timed out"
        assert "timed out" in caplog.text
    else:
        assert outcome.failed() and outcome.result is failure  # not swallowed, not retried
        assert "re-check failed" in caplog.text
    policy = _policy(project)
    assert policy.method_checked_at is None
    assert policy.method_recheck_attempted_at >= before

    # The next sweep decides, and leaves the re-check for RECHECK_RETRY_AFTER.
    assert not recheck.method_recheck_due(project_id=project.pk)
    assert quality.decide_ready_items.apply(args=(project.pk,)).get() == len(READY)
    assert enqueued_rechecks == []


def test_a_deleted_project_is_skipped_without_an_error(classification_project, enqueued_rechecks):
    # Deleted between the sweep and the decision (a project with answers is protected).
    project = classification_project()
    project_id = project.pk
    project.delete()

    assert quality.decide_ready_items.apply(args=(project_id,)).get() == 0
    assert quality.recheck_quality_method.apply(args=(project_id,)).get() == "skipped"
    assert enqueued_rechecks == []
    assert not QualityPolicy.objects.filter(project_id=project_id).exists()
