"""Open work goes back when its annotator stops being eligible for the project in
any way other than leaving or a quality pause: a transfer to a facility below the
project's grade, a facility graded down, a skill or language lowered or removed.

Two paths, as for leavers: the immediate one (a signal enqueues the per-annotator
withdrawal after commit, and the task re-checks the database) and the beat sweep's
set-based safety net. Messages are captured at workers.enqueue._send; tasks run in
this process with ``apply()``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from qianbiao.programme.models import Grade
from qianbiao.projects.distribution import project_distribute
from qianbiao.projects.eligibility import annotators_unmet_rules, eligible_annotators
from qianbiao.projects.items import items_import
from qianbiao.projects.lifecycle import annotator_open_work_withdraw, assignments_revoke_ineligible
from qianbiao.projects.models import Assignment, AssignmentState, Item, ItemState
from qianbiao.workforce.models import (
    Annotator,
    AnnotatorLanguage,
    AnnotatorSkill,
    LanguageProficiency,
    SkillProficiency,
)
from qianbiao.workforce.services import LanguageSpec, SkillSpec, annotator_transfer
from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory, LanguageFactory
from workers import enqueue, tasks

pytestmark = pytest.mark.django_db

BBOX = (SkillSpec("bounding_box", SkillProficiency.PROFICIENT),)
GRADE_REASON = "no longer eligible: facility grade L2 < required L3"


@pytest.fixture
def l3_facility():
    return FacilityFactory(grade=Grade.L3)


@pytest.fixture
def l2_facility():
    return FacilityFactory(grade=Grade.L2)


@pytest.fixture
def mover(l3_facility):
    """The annotator whose eligibility changes."""
    return AnnotatorFactory(facility=l3_facility, skills=BBOX)


@pytest.fixture
def stayer(l3_facility):
    """An annotator who stays eligible everywhere: the freed items go to them."""
    return AnnotatorFactory(facility=l3_facility, skills=BBOX)


def _project(*, n_items=6, **kwargs):
    project = DatasetProjectFactory(**{"overlap": 1, "open_cap": 100, **kwargs})
    items_import(project=project, rows=[{"external_id": f"t{k}", "data": {"k": k}} for k in range(n_items)])
    project_distribute(project_id=project.pk)
    return project


@pytest.fixture
def work(mover, stayer):
    """Two distributed projects: ``needs_l3`` (the transfer takes the mover below
    it) and ``needs_l2`` (it does not); one of the mover's items in ``needs_l3``
    is already submitted."""
    needs_l3 = _project(min_grade=Grade.L3)
    needs_l2 = _project(min_grade=Grade.L2)
    submitted = Assignment.objects.filter(project=needs_l3, annotator=mover).order_by("pk").first()
    Assignment.objects.filter(pk=submitted.pk).update(
        state=AssignmentState.SUBMITTED, submitted_at=timezone.now()
    )
    Item.objects.filter(pk=submitted.item_id).update(state=ItemState.ANNOTATED)
    return needs_l3, needs_l2, submitted


def _open_in(project, annotator) -> list[Assignment]:
    return list(Assignment.objects.filter(project=project, annotator=annotator, state=AssignmentState.OPEN))


def _snapshot() -> list[tuple]:
    return list(
        Assignment.objects.order_by("pk").values_list("pk", "state", "ended_at", "end_reason", "item__state")
    )


def _assert_revoked(assignments: list[Assignment], reason: str) -> None:
    assert assignments, "the test needs open work to revoke"
    rows = Assignment.objects.filter(pk__in=[a.pk for a in assignments])
    assert set(rows.values_list("state", "end_reason")) == {(AssignmentState.REVOKED, reason)}
    assert all(rows.values_list("ended_at", flat=True))
    items = Item.objects.filter(pk__in=[a.item_id for a in assignments])
    assert set(items.values_list("state", flat=True)) == {ItemState.PENDING}


def _assert_still_open(assignments: list[Assignment]) -> None:
    assert assignments, "the test needs open work that must stay"
    rows = Assignment.objects.filter(pk__in=[a.pk for a in assignments])
    assert set(rows.values_list("state", "end_reason")) == {(AssignmentState.OPEN, "")}


# --- a transfer below the project's grade, the immediate path -------------------------


def test_a_transfer_below_a_projects_grade_withdraws_that_work_at_once(
    run, sent, work, mover, stayer, l2_facility, django_capture_on_commit_callbacks
):
    needs_l3, needs_l2, submitted = work
    lost, kept = _open_in(needs_l3, mover), _open_in(needs_l2, mover)
    others = _open_in(needs_l3, stayer)

    with django_capture_on_commit_callbacks(execute=True):
        annotator_transfer(annotator=mover, facility=l2_facility, on=dt.date(2026, 3, 1))
    assert sent == [(enqueue.WITHDRAW_ANNOTATOR_WORK, (mover.pk, None))]

    sent.clear()
    result = run(tasks.withdraw_annotator_work, mover.pk)

    assert result == {"annotator_id": mover.pk, "released": len(lost)}
    _assert_revoked(lost, GRADE_REASON)
    _assert_still_open(kept)  # L2 is enough there
    _assert_still_open(others)
    assert Assignment.objects.get(pk=submitted.pk).state == AssignmentState.SUBMITTED
    assert Item.objects.get(pk=submitted.item_id).state == ItemState.ANNOTATED
    # The freed slots go to someone else at once.
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (needs_l3.pk,))]
    run(tasks.distribute_project, needs_l3.pk)
    assert set(
        Assignment.objects.filter(item__in=[a.item_id for a in lost], state=AssignmentState.OPEN).values_list(
            "annotator_id", flat=True
        )
    ) == {stayer.pk}
    assert not Item.objects.filter(project=needs_l3, state=ItemState.PENDING).exists()


def test_withdrawing_twice_changes_nothing(run, sent, work, mover, l2_facility):
    needs_l3, _, _ = work
    lost = _open_in(needs_l3, mover)
    annotator_transfer(annotator=mover, facility=l2_facility, on=dt.date(2026, 3, 1))
    assert run(tasks.withdraw_annotator_work, mover.pk)["released"] == len(lost) > 0
    before = _snapshot()
    sent.clear()

    assert run(tasks.withdraw_annotator_work, mover.pk)["released"] == 0
    assert annotator_open_work_withdraw(annotator_id=mover.pk) == {}
    assert assignments_revoke_ineligible() == {}
    assert run(tasks.sweep_task)["revoked_ineligible"] == 0
    assert _snapshot() == before


def test_a_withdrawal_for_one_project_leaves_the_others_to_their_own(work, mover, l2_facility):
    needs_l3, needs_l2, _ = work
    other_l3 = _project(min_grade=Grade.L3)
    lost, untouched = _open_in(needs_l3, mover), _open_in(other_l3, mover)
    annotator_transfer(annotator=mover, facility=l2_facility, on=dt.date(2026, 3, 1))

    freed = annotator_open_work_withdraw(annotator_id=mover.pk, project_id=needs_l3.pk)

    assert sorted(freed) == [needs_l3.pk]
    _assert_revoked(lost, GRADE_REASON)
    _assert_still_open(untouched)
    _assert_still_open(_open_in(needs_l2, mover))


# --- the sweep: the same loss, made where no signal sees it ---------------------------


def test_the_sweep_revokes_work_of_annotators_no_longer_eligible(run, sent, work, mover, stayer, l2_facility):
    needs_l3, needs_l2, submitted = work
    lost, kept = _open_in(needs_l3, mover), _open_in(needs_l2, mover)
    # A queryset update bypasses save() and every signal: only the sweep sees it.
    Annotator.objects.filter(pk=mover.pk).update(facility=l2_facility)

    report = run(tasks.sweep_task)

    assert report["revoked_ineligible"] == len(lost)
    assert report["revoked_inactive"] == report["revoked_paused"] == report["expired"] == 0
    assert not report["backlog"]
    _assert_revoked(lost, GRADE_REASON)
    _assert_still_open(kept)
    _assert_still_open(_open_in(needs_l3, stayer))
    assert Assignment.objects.get(pk=submitted.pk).state == AssignmentState.SUBMITTED
    assert report["projects_to_distribute"] == [needs_l3.pk]
    assert sent == [(enqueue.DISTRIBUTE_PROJECT, (needs_l3.pk,))]

    # A second sweep right after finds nothing more to do.
    before = _snapshot()
    assert run(tasks.sweep_task)["revoked_ineligible"] == 0
    assert _snapshot() == before


def test_the_sweep_works_in_batches_and_reports_a_backlog(work, mover, l2_facility):
    needs_l3, _, _ = work
    lost = _open_in(needs_l3, mover)
    assert len(lost) >= 2
    Annotator.objects.filter(pk=mover.pk).update(facility=l2_facility)

    first = assignments_revoke_ineligible(limit=1)
    assert sum(len(v) for v in first.values()) == 1
    rest = assignments_revoke_ineligible(limit=1_000)
    assert sum(len(v) for v in rest.values()) == len(lost) - 1
    _assert_revoked(lost, GRADE_REASON)


def test_a_facility_graded_down_sends_one_sweep_that_revokes(
    run, sent, work, mover, stayer, l3_facility, django_capture_on_commit_callbacks
):
    needs_l3, needs_l2, _ = work
    lost = _open_in(needs_l3, mover) + _open_in(needs_l3, stayer)
    kept = _open_in(needs_l2, mover) + _open_in(needs_l2, stayer)
    with django_capture_on_commit_callbacks(execute=True):
        l3_facility.name = "renamed"
        l3_facility.save()
        l3_facility.grade = Grade.L4  # upgraded: nobody loses anything
        l3_facility.save(update_fields=["grade"])
    assert sent == []

    with django_capture_on_commit_callbacks(execute=True):
        l3_facility.grade = Grade.L2
        l3_facility.save()
    assert sent == [(enqueue.SWEEP, ())]

    report = run(tasks.sweep_task)
    assert report["revoked_ineligible"] == len(lost)
    _assert_revoked(lost, GRADE_REASON)
    _assert_still_open(kept)


# --- skills and languages -------------------------------------------------------------


def test_a_skill_lowered_or_removed_withdraws_the_work_that_needs_it(
    run, sent, mover, stayer, django_capture_on_commit_callbacks
):
    needs_proficient = _project(min_skill_proficiency=SkillProficiency.PROFICIENT)
    needs_basic = _project(min_skill_proficiency=SkillProficiency.BASIC)
    lost, kept = _open_in(needs_proficient, mover), _open_in(needs_basic, mover)
    skill = AnnotatorSkill.objects.get(annotator=mover, task_type="bounding_box")

    with django_capture_on_commit_callbacks(execute=True):
        skill.proficiency = SkillProficiency.BASIC
        skill.save()
    assert sent == [(enqueue.WITHDRAW_ANNOTATOR_WORK, (mover.pk, None))]
    assert run(tasks.withdraw_annotator_work, mover.pk)["released"] == len(lost)
    _assert_revoked(lost, "no longer eligible: bounding_box skill basic < required proficient")
    _assert_still_open(kept)

    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        skill.delete()
    assert sent == [(enqueue.WITHDRAW_ANNOTATOR_WORK, (mover.pk, None))]
    assert run(tasks.withdraw_annotator_work, mover.pk)["released"] == len(kept)
    _assert_revoked(kept, "no longer eligible: bounding_box skill none < required basic")
    _assert_still_open(_open_in(needs_proficient, stayer))


def test_a_language_lowered_is_caught_by_the_sweep_with_every_rule_it_breaks(run, l3_facility, l2_facility):
    miao = LanguageFactory()
    speaks = (LanguageSpec(miao.code, LanguageProficiency.NATIVE),)
    mover = AnnotatorFactory(facility=l3_facility, skills=BBOX, languages=speaks)
    AnnotatorFactory(facility=l3_facility, skills=BBOX, languages=speaks)
    project = _project(required_language=miao, min_language_proficiency=LanguageProficiency.FLUENT)
    lost = _open_in(project, mover)
    AnnotatorLanguage.objects.filter(annotator=mover).update(proficiency=LanguageProficiency.WORKING)
    Annotator.objects.filter(pk=mover.pk).update(facility=l2_facility)

    assert run(tasks.sweep_task)["revoked_ineligible"] == len(lost)
    _assert_revoked(
        lost,
        "no longer eligible: facility grade L2 < required L3; language hmn working < required fluent",
    )


# --- nobody eligible loses anything ---------------------------------------------------


def test_an_annotator_still_eligible_loses_nothing(
    run, sent, work, mover, stayer, l3_facility, django_capture_on_commit_callbacks
):
    before = _snapshot()
    l4_facility = FacilityFactory(grade=Grade.L4)
    with django_capture_on_commit_callbacks(execute=True):
        annotator_transfer(annotator=mover, facility=l4_facility, on=dt.date(2026, 3, 1))
        annotator_transfer(annotator=stayer, facility=FacilityFactory(grade=Grade.L3), on=dt.date(2026, 3, 1))
        skill = AnnotatorSkill.objects.get(annotator=mover)
        skill.proficiency = SkillProficiency.EXPERT  # raised
        skill.save()
    assert {name for name, _ in sent} == {enqueue.WITHDRAW_ANNOTATOR_WORK}

    assert run(tasks.withdraw_annotator_work, mover.pk)["released"] == 0
    assert run(tasks.withdraw_annotator_work, stayer.pk)["released"] == 0
    assert run(tasks.sweep_task)["revoked_ineligible"] == 0
    assert _snapshot() == before


def test_unmet_rules_name_each_rule_the_database_finds_broken(work, mover, stayer, l2_facility):
    needs_l3, needs_l2, _ = work
    Annotator.objects.filter(pk=mover.pk).update(facility=l2_facility)
    AnnotatorSkill.objects.filter(annotator=mover).delete()

    unmet = annotators_unmet_rules(project=needs_l3, annotator_ids=[mover.pk, stayer.pk])

    assert unmet == {
        mover.pk: [
            ("facility grade", "facility grade L2 < required L3"),
            ("skill", "bounding_box skill none < required basic"),
        ]
    }
    # The same conditions as the distributor's: whoever has no unmet rule is eligible.
    for project in (needs_l3, needs_l2):
        everyone = list(Annotator.objects.values_list("pk", flat=True))
        eligible = set(eligible_annotators(project=project).values_list("pk", flat=True))
        assert eligible == set(everyone) - set(
            annotators_unmet_rules(project=project, annotator_ids=everyone)
        )
