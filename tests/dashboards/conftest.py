"""A small programme with a dated history, relative to today so that the
dashboards (which read "today") have something to show whatever day the tests
run: four prefectures (three on the map, 贵安新区 as a marker), two parks, four
facilities, targets, ~30 annotators with hires, leavers, a transfer and a rehire,
two dataset projects with annotations, results and gold items.

Expected figures are never taken from the code under test: ``count_employed``
counts Employment rows in Python."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from qianbiao.dashboards.snapshots import headcount_snapshots_take, work_snapshots_take
from qianbiao.labelling.models import Annotation
from qianbiao.programme.models import Facility, HeadcountTarget, TargetKind, TargetScope
from qianbiao.projects.models import Assignment, AssignmentState, Item, ItemState
from qianbiao.quality.models import GoldJudgement, Result
from qianbiao.workforce.models import Employment, LanguageProficiency
from qianbiao.workforce.services import (
    LanguageSpec,
    SkillSpec,
    annotator_leave,
    annotator_rehire,
    annotator_transfer,
)
from tests.factories import (
    AnnotatorFactory,
    DatasetProjectFactory,
    EnterpriseFactory,
    FacilityFactory,
    LanguageFactory,
    ParkFactory,
    RegionFactory,
)

D = dt.timedelta


def count_employed(day: dt.date, **where) -> int:
    """Independent oracle: people employed on ``day`` (filters on the spell)."""
    return sum(
        1
        for spell in Employment.objects.filter(**where)
        if spell.started_on <= day and (spell.ended_on is None or spell.ended_on >= day)
    )


def local_noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12, 0)))


@dataclass
class Programme:
    today: dt.date
    regions: dict
    parks: dict
    facilities: dict
    projects: dict
    operator_big: object
    operator_small: object
    annotators: list


@pytest.fixture
def programme(db) -> Programme:
    today = timezone.localdate()
    year = today.year
    guiyang = RegionFactory(code="520100", name="贵阳市", short_name="贵阳")
    zunyi = RegionFactory(code="520300", name="遵义市", short_name="遵义")
    qdn = RegionFactory(code="522600", name="黔东南苗族侗族自治州", short_name="黔东南")
    guian = RegionFactory(code="520900", name="贵安新区", short_name="贵安", has_official_code=False)
    gy_park = ParkFactory(code="gy-park", name="贵阳大数据科创城", region=guiyang)
    zy_park = ParkFactory(code="zy-park", name="遵义数智产业园", region=zunyi)
    big = EnterpriseFactory(name="贵州元壤智能")
    small = EnterpriseFactory(name="贵州梦动科技")
    facilities = {
        "gy1": FacilityFactory(
            code="gy1", name="科创城一号厂房", park=gy_park, operator=big, grade="L4", seats=40
        ),
        "gy2": FacilityFactory(
            code="gy2", name="云岩集聚区厂房", park=None, region=guiyang, operator=big, seats=20
        ),
        "zy1": FacilityFactory(code="zy1", name="遵义标注基地", park=zy_park, operator=small, seats=30),
        "ga1": FacilityFactory(
            code="ga1", name="贵安智算厂房", park=None, region=guian, operator=small, grade="L5", seats=25
        ),
    }
    HeadcountTarget.objects.create(scope=TargetScope.PROVINCE, year=year, number=60)
    HeadcountTarget.objects.create(scope=TargetScope.PROVINCE, year=year, kind=TargetKind.BASELINE, number=5)
    for region, number in ((guiyang, 30), (zunyi, 15), (qdn, 5), (guian, 10)):
        HeadcountTarget.objects.create(scope=TargetScope.REGION, region=region, year=year, number=number)
    HeadcountTarget.objects.create(scope=TargetScope.PARK, park=gy_park, year=year, number=18)
    HeadcountTarget.objects.create(
        scope=TargetScope.FACILITY, facility=facilities["gy1"], year=year, number=16
    )
    LanguageFactory(code="cmn", name="普通话", english_name="Mandarin", is_minority=False)
    LanguageFactory(code="hms", name="苗语（黔东）", english_name="Qiandong Miao")

    order = ["gy1", "gy1", "gy2", "zy1", "ga1", "gy1", "zy1"]
    annotators = []
    for i in range(30):
        facility = facilities[order[i % len(order)]]
        skills = [SkillSpec("bounding_box", 2)] if i % 2 == 0 else [SkillSpec("text_classification", 1)]
        if i % 3 == 0:
            skills.append(SkillSpec("transcription", 3))
        languages = [LanguageSpec("cmn", LanguageProficiency.NATIVE)]
        if i % 4 == 0:
            languages.append(LanguageSpec("hms", LanguageProficiency.FLUENT, "test"))
        annotators.append(
            AnnotatorFactory(
                facility=facility,
                employer=facility.operator,
                # From 430 days ago (last year) to today, so both the year's trend
                # and the 90-day forecast window have hires in them.
                started_on=today - D(days=430 - i * 14),
                skills=skills,
                languages=languages,
                skill_level=3 if i % 5 == 0 else 5,
            )
        )
    # Leavers (one of them on their last day today, who still counts), a
    # transfer and a rehire, all in the past relative to today.
    for i in (1, 8, 15):
        a = annotators[i]
        spell = Employment.objects.get(annotator=a, ended_on__isnull=True)
        annotator_leave(annotator=a, last_day=max(spell.started_on, today - D(days=40 + i)))
    annotator_leave(annotator=annotators[22], last_day=today)
    mover = annotators[5]
    annotator_transfer(annotator=mover, facility=facilities["zy1"], employer=small, on=today - D(days=30))
    back = annotators[1]
    annotator_rehire(
        annotator=back, facility=facilities["ga1"], employer=small, started_on=today - D(days=10)
    )

    projects = _work(today, annotators, facilities)
    return Programme(
        today=today,
        regions={"guiyang": guiyang, "zunyi": zunyi, "qdn": qdn, "guian": guian},
        parks={"gy": gy_park, "zy": zy_park},
        facilities=facilities,
        projects=projects,
        operator_big=big,
        operator_small=small,
        annotators=annotators,
    )


def _work(today: dt.date, annotators, facilities) -> dict:
    """Two projects with annotations over the last five days, results and gold;
    a third that needs Miao at L5 with a skill nobody has: pending, nobody eligible."""
    boxes = DatasetProjectFactory(name="自动驾驶2D框", task_type="bounding_box", overlap=1)
    texts = DatasetProjectFactory(name="政务文本分类", task_type="text_classification", overlap=1)
    starved = DatasetProjectFactory(
        name="苗语语音转写", task_type="video_tracking", min_grade="L5", overlap=1
    )
    Item.objects.create(project=starved, external_id="s-1", data={"audio": "x"}, state=ItemState.PENDING)

    working = [a for a in annotators if a.status == "active"][:8]
    ls_id = iter(range(1, 10_000))
    for offset in range(5):
        day = today - D(days=offset)
        for k, annotator in enumerate(working):
            project = boxes if k % 2 == 0 else texts
            for n in range(offset + 1 + k % 3):
                gold = n == 0 and k % 2 == 1
                item = Item.objects.create(
                    project=project,
                    external_id=f"{offset}-{k}-{n}",
                    data={"text": "x"},
                    is_gold=gold,
                    gold_answer={"choices": ["正面"]} if gold else None,
                    state=ItemState.ANNOTATED,
                )
                when = local_noon(day)
                assignment = Assignment.objects.create(
                    project=project,
                    item=item,
                    annotator=annotator,
                    slot=None if gold else 0,
                    is_gold=gold,
                    state=AssignmentState.SUBMITTED,
                    assigned_at=when,
                    expires_at=when + D(days=1),
                    submitted_at=when,
                )
                choice = "正面" if (k + n) % 3 else "负面"
                annotation = Annotation.objects.create(
                    ls_annotation_id=next(ls_id),
                    ls_task_id=assignment.pk,
                    assignment=assignment,
                    project=project,
                    item=item,
                    annotator=annotator,
                    result=[{"type": "choices", "value": {"choices": [choice]}}],
                    lead_time_s=10.0 + k + n,
                )
                Annotation.objects.filter(pk=annotation.pk).update(received_at=when)
                # Gold is marked as quality control would; one answer is left unjudged.
                if gold and not (offset == 4 and k == 1):
                    GoldJudgement.objects.create(
                        annotation=annotation,
                        project=project,
                        item=item,
                        annotator=annotator,
                        correct=choice == "正面",
                        score=1.0 if choice == "正面" else 0.0,
                    )
                if not gold:
                    result = Result.objects.create(
                        item=item,
                        project=project,
                        label={"choices": [choice]},
                        method="single",
                        agreement=0.5 + 0.1 * (k % 5),
                    )
                    Result.objects.filter(pk=result.pk).update(decided_at=when)
    # The first working annotator also holds open work: everybody else has none.
    open_item = Item.objects.create(
        project=boxes, external_id="open-1", data={"x": 1}, state=ItemState.ASSIGNED
    )
    now = timezone.now()
    Assignment.objects.create(
        project=boxes,
        item=open_item,
        annotator=working[0],
        slot=0,
        assigned_at=now,
        expires_at=now + D(days=1),
    )
    return {"boxes": boxes, "texts": texts, "starved": starved, "working": working}


@pytest.fixture
def snapshots(programme) -> Programme:
    """A back-fill of the last 400 days: the trend since 1 January and the
    90-day forecast window are covered whatever today is."""
    first = programme.today - D(days=400)
    headcount_snapshots_take(first_day=first, last_day=programme.today)
    work_snapshots_take(first_day=first, last_day=programme.today)
    return programme


def facility_codes(region_code: str) -> list[str]:
    return list(Facility.objects.filter(region__code=region_code).values_list("code", flat=True))
