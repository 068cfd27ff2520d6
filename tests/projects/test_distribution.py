"""The distributor on real PostgreSQL: eligibility, overlap, fairness, gold, lifecycle."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from qianbiao.programme.models import Grade
from qianbiao.projects.distribution import project_distribute
from qianbiao.projects.items import ItemImportRejected, items_import
from qianbiao.projects.lifecycle import assignments_expire, assignments_revoke_for_annotator
from qianbiao.projects.models import AnnotatorStanding, Assignment, AssignmentState, Item, ItemState
from qianbiao.projects.progress import project_progress
from qianbiao.workforce.models import AnnotatorLanguage, LanguageProficiency
from qianbiao.workforce.services import LanguageSpec, SkillSpec
from tests.factories import AnnotatorFactory, DatasetProjectFactory, FacilityFactory, LanguageFactory

pytestmark = pytest.mark.django_db

BBOX = (SkillSpec("bounding_box", 2),)


def _items(n, *, prefix="i", gold=0):
    rows = [{"external_id": f"{prefix}{k}", "data": {"image": f"/img/{k}.jpg"}} for k in range(n)]
    rows += [
        {
            "external_id": f"gold{k}",
            "data": {"image": f"/gold/{k}.jpg"},
            "is_gold": True,
            "gold_answer": {"label": "car"},
        }
        for k in range(gold)
    ]
    return rows


@pytest.fixture
def l3_facility():
    return FacilityFactory(grade=Grade.L3)


def test_items_import_rejects_bad_rows_and_imports_nothing():
    project = DatasetProjectFactory()
    rows = _items(5) + [{"external_id": "i2", "data": {"image": "dup"}}, {"external_id": "", "data": {}}]
    with pytest.raises(ItemImportRejected) as exc:
        items_import(project=project, rows=rows)
    reported = {(e.row, e.field) for e in exc.value.errors}
    assert reported == {(6, "external_id"), (7, "external_id"), (7, "data")}
    assert Item.objects.filter(project=project).count() == 0
    assert items_import(project=project, rows=_items(5)) == 5
    with pytest.raises(ItemImportRejected) as again:
        items_import(project=project, rows=_items(1))
    assert [(e.row, e.field) for e in again.value.errors] == [(1, "external_id")]
    assert Item.objects.filter(project=project).count() == 5


def test_every_item_gets_overlap_distinct_eligible_annotators(l3_facility):
    project = DatasetProjectFactory(overlap=3, open_cap=1000)
    eligible = [AnnotatorFactory(facility=l3_facility, skills=BBOX) for _ in range(5)]
    low_grade = AnnotatorFactory(
        facility=FacilityFactory(grade=Grade.L2, seats=10, physical_security=False), skills=BBOX
    )
    no_skill = AnnotatorFactory(facility=l3_facility, skills=(SkillSpec("transcription", 3),))
    items_import(project=project, rows=_items(40))

    outcome = project_distribute(project_id=project.pk)

    assert outcome.assignments_created == 120
    per_item = Counter(Assignment.objects.filter(project=project).values_list("item_id", flat=True))
    assert set(per_item.values()) == {3}
    assert not Assignment.objects.filter(annotator__in=[low_grade, no_skill]).exists()
    loads = Counter(Assignment.objects.filter(project=project).values_list("annotator_id", flat=True))
    assert set(loads) == {a.pk for a in eligible}
    assert max(loads.values()) - min(loads.values()) <= 1
    assert project_progress(project=project).items_by_state[ItemState.ASSIGNED] == 40
    # A second run has nothing to do and changes nothing.
    assert project_distribute(project_id=project.pk).assignments_created == 0


def test_language_and_pause_and_cap(l3_facility):
    miao = LanguageFactory(code="hmn")
    project = DatasetProjectFactory(overlap=1, open_cap=4, required_language=miao, min_language_proficiency=2)
    speaker = AnnotatorFactory(facility=l3_facility, skills=BBOX, languages=(LanguageSpec("hmn", 3),))
    working = AnnotatorFactory(facility=l3_facility, skills=BBOX, languages=(LanguageSpec("hmn", 1),))
    paused = AnnotatorFactory(facility=l3_facility, skills=BBOX, languages=(LanguageSpec("hmn", 3),))
    AnnotatorStanding.objects.create(
        project=project, annotator=paused, paused=True, paused_reason="gold accuracy"
    )
    items_import(project=project, rows=_items(10))

    outcome = project_distribute(project_id=project.pk)

    assert outcome.assignments_created == 4
    assert set(Assignment.objects.values_list("annotator_id", flat=True)) == {speaker.pk}
    assert outcome.starved and not outcome.more_pending  # the only eligible one is at their cap
    assert project_progress(project=project).items_by_state[ItemState.PENDING] == 6
    # Only working-level Miao (1) keeps `working` out of a project that needs fluent (2):
    # at the required level, they get work at once.
    assert not Assignment.objects.filter(annotator=working).exists()
    AnnotatorLanguage.objects.filter(annotator=working, language=miao).update(
        proficiency=LanguageProficiency.FLUENT
    )
    assert project_distribute(project_id=project.pk).assignments_created == 4
    assert Assignment.objects.filter(annotator=working).count() == 4
    assert not Assignment.objects.filter(annotator=paused).exists()


def test_gold_is_mixed_in_at_the_ratio(l3_facility):
    project = DatasetProjectFactory(overlap=1, gold_ratio=Decimal("0.2"), open_cap=1000)
    annotators = [AnnotatorFactory(facility=l3_facility, skills=BBOX) for _ in range(4)]
    items_import(project=project, rows=_items(80, gold=10))
    project_distribute(project_id=project.pk)
    for a in annotators:
        mine = Assignment.objects.filter(annotator=a)
        gold = mine.filter(is_gold=True).count()
        assert gold == round(mine.filter(is_gold=False).count() * 0.25)
        assert gold == mine.filter(is_gold=True).values("item").distinct().count()


def test_database_refuses_a_second_live_assignment_in_a_slot(l3_facility):
    project = DatasetProjectFactory(overlap=1)
    a, b = (AnnotatorFactory(facility=l3_facility, skills=BBOX) for _ in range(2))
    items_import(project=project, rows=_items(1))
    project_distribute(project_id=project.pk)
    existing = Assignment.objects.get()
    other = b if existing.annotator_id == a.pk else a
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(
            project=project, item=existing.item, annotator=other, slot=0,
            assigned_at=timezone.now(), expires_at=timezone.now(),
        )  # fmt: skip


def test_expired_and_revoked_work_goes_to_someone_else(l3_facility):
    project = DatasetProjectFactory(overlap=1, open_cap=1000)
    first = AnnotatorFactory(facility=l3_facility, skills=BBOX)
    items_import(project=project, rows=_items(6))
    project_distribute(project_id=project.pk)
    assert Assignment.objects.filter(annotator=first).count() == 6
    second = AnnotatorFactory(facility=l3_facility, skills=BBOX)

    freed = assignments_revoke_for_annotator(annotator_id=first.pk)
    assert sorted(freed[project.pk]) == sorted(Item.objects.values_list("pk", flat=True))
    assert Item.objects.filter(state=ItemState.PENDING).count() == 6
    project_distribute(project_id=project.pk)
    assert Assignment.objects.filter(annotator=second, state=AssignmentState.OPEN).count() == 6

    later = timezone.now() + dt.timedelta(hours=25)
    assignments_expire(now=later)
    assert Assignment.objects.filter(state=AssignmentState.EXPIRED).count() == 6
    assert assignments_expire(now=later) == {}  # idempotent
    third = AnnotatorFactory(facility=l3_facility, skills=BBOX)
    project_distribute(project_id=project.pk)
    assert Assignment.objects.filter(annotator=third, state=AssignmentState.OPEN).count() == 6
