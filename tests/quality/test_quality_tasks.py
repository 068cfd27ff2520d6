"""The quality sweep's Celery glue (workers/quality.py), in this process.

``quality_sweep`` enqueues ``decide_ready_items`` for every active project;
that task re-checks the project's consensus method, then decides its ready items
(qianbiao.quality.services). Tasks run here through ``apply()``, Celery's own
request with its retries; the real Redis broker and worker process are exercised
in tests/integration/test_celery_quality.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import OperationalError

from qianbiao.annotations.models import Annotation
from qianbiao.projects.distribution import project_distribute
from qianbiao.projects.items import items_import
from qianbiao.projects.models import Assignment, Item, ItemState, ProjectStatus
from qianbiao.quality import services
from qianbiao.quality.models import AnnotatorQuality, Result, ResultMethod, Review
from tests.quality.conftest import annotate, choice
from workers import quality
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
    for name in ("project_method_recheck", "project_decide_ready"):
        real = getattr(services, name)

        def spy(*args, _name=name, _real=real, **kwargs):
            calls.append((_name, args, kwargs))
            return _real(*args, **kwargs)

        monkeypatch.setattr(services, name, spy)
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
    monkeypatch.setattr(quality.decide_ready_items, "delay", lambda *args: sent.append(args))

    assert quality.quality_sweep.apply().get() == 2
    assert sent == [(high.pk,), (low.pk,)]

    # The sweep keeps no state: the next one asks again; deciding is what is idempotent.
    assert quality.quality_sweep.apply().get() == 2
    assert sent == [(high.pk,), (low.pk,)] * 2


def test_decide_ready_items_decides_the_project_given_by_id_through_the_services(annotated, service_calls):
    project, item = annotated()
    other, other_item = annotated()

    decided = quality.decide_ready_items.apply(args=(project.pk,)).get()

    # The method first (a no-op here: no gold), then the decisions; by id, keyword-only.
    assert service_calls == [
        ("project_method_recheck", (), {"project_id": project.pk}),
        ("project_decide_ready", (), {"project_id": project.pk}),
    ]
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
    assert [name for name, _, _ in service_calls] == ["project_method_recheck", "project_decide_ready"] * 2


def test_a_database_hiccup_is_retried_and_any_other_error_is_not(annotated, monkeypatch):
    project, _ = annotated()
    real = services.project_decide_ready
    attempts: list[int] = []

    def fails_once(**kwargs):
        attempts.append(kwargs["project_id"])
        if len(attempts) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(services, "project_decide_ready", fails_once)
    assert quality.decide_ready_items.apply(args=(project.pk,)).get() == len(READY)
    assert attempts == [project.pk, project.pk]

    def broken(**kwargs):
        attempts.append(kwargs["project_id"])
        raise ValueError("a bug, not a hiccup")

    monkeypatch.setattr(services, "project_decide_ready", broken)
    outcome = quality.decide_ready_items.apply(args=(project.pk,))
    assert outcome.failed() and isinstance(outcome.result, ValueError)
    assert attempts == [project.pk] * 3  # tried once


def test_quality_task_names_queue_and_schedule():
    route = app.amqp.router.route
    for name in (quality.QUALITY_SWEEP, quality.DECIDE_READY_ITEMS):
        assert name in app.tasks
        assert route({}, name)["queue"].name == "maintenance"
    decide = app.tasks[quality.DECIDE_READY_ITEMS]
    assert decide.acks_late and decide.soft_time_limit < decide.time_limit
    assert app.conf.beat_schedule["quality-sweep"]["task"] == quality.QUALITY_SWEEP
