"""Guizhou reference data and the synthetic workforce (seeds/)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter, defaultdict
from io import StringIO

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone, translation
from stdnum.cn import uscc

from qianbiao.core.validators import validate_credit_code
from qianbiao.enterprises.models import Enterprise
from qianbiao.programme.models import (
    Facility,
    GradeRubric,
    HeadcountTarget,
    Park,
    Region,
    TargetKind,
    TargetScope,
)
from qianbiao.workforce.headcount import headcount_by_scope
from qianbiao.workforce.models import (
    Annotator,
    AnnotatorLanguage,
    AnnotatorSkill,
    AnnotatorStatus,
    Employment,
    Language,
    Verification,
)
from seeds.guizhou import CREATED, UNCHANGED, UPDATED, load_reference_data, read_reference_data
from seeds.workforce import HISTORY_END, HISTORY_START, generate_workforce

pytestmark = pytest.mark.django_db

REFERENCE_MODELS = [GradeRubric, Region, Park, Enterprise, Facility, Language, HeadcountTarget]
WORKFORCE_MODELS = [Annotator, AnnotatorSkill, AnnotatorLanguage, Employment]

# From DOMAIN.md.
GBT_2260 = {
    "520100": "贵阳市",
    "520200": "六盘水市",
    "520300": "遵义市",
    "520400": "安顺市",
    "520500": "毕节市",
    "520600": "铜仁市",
    "522300": "黔西南布依族苗族自治州",
    "522600": "黔东南苗族侗族自治州",
    "522700": "黔南布依族苗族自治州",
}
AUTONOMOUS = {"522300", "522600", "522700"}
NAMED_SITES = {
    "贵安光谷智算产业园": "贵安新区",
    "贵阳大数据科创城": "贵阳市",
    "上海浦东软件园贵阳园": "贵阳市",
    "贵州科学城数据标注产业孵化基地": "贵阳市",
    "云岩区万人数据标注集聚区": "贵阳市",
    "百鸟河数字小镇": "黔南布依族苗族自治州",
}
MINORITY_CODES = {"hmn", "hea", "hms", "hmq", "cqd", "pcc", "doc", "kmc", "swi", "ywu", "yig"}
MINORITY_CODES |= {"gqu", "aou", "gir", "giw", "tji", "tjs"}


@pytest.fixture
def guizhou(db):
    """The Guizhou reference data, loaded once for the test."""
    return load_reference_data()


def dump(models) -> dict[str, list[dict]]:
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


# --- reference data -------------------------------------------------------------------------


def test_prefectures_have_their_gbt_2260_codes_and_guian_an_internal_one(guizhou):
    regions = {r.code: r for r in Region.objects.all()}
    assert {code: regions[code].name for code in GBT_2260} == GBT_2260
    assert all(regions[code].has_official_code for code in GBT_2260)
    (guian,) = [r for r in regions.values() if r.name == "贵安新区"]
    assert guian.code not in GBT_2260 and not guian.has_official_code
    assert len(regions) == 10
    assert {code for code, r in regions.items() if r.is_autonomous} == AUTONOMOUS
    assert all(r.specialisation for r in regions.values())
    # 一核引领: 贵阳 and 贵安 are the core, the others specialise.
    core = {code for code, r in regions.items() if "核心" in r.specialisation}
    assert core == {"520100", guian.code}


def test_grade_rubric_covers_l1_to_l5_and_says_no_national_standard_exists(guizhou):
    rubrics = list(GradeRubric.objects.order_by("grade"))
    assert [r.grade for r in rubrics] == ["L1", "L2", "L3", "L4", "L5"]
    assert all("未找到公开的国家" in r.description for r in rubrics)
    seats = [r.min_seats for r in rubrics]
    assert seats == sorted(seats) and len(set(seats)) == 5
    assert rubrics[3].requires_security_certification and not rubrics[2].requires_security_certification


def test_every_facility_meets_its_grade_rubric(guizhou):
    facilities = list(Facility.objects.select_related("region", "park", "operator"))
    assert len(facilities) >= 10
    for facility in facilities:
        facility.full_clean()
        assert GradeRubric.objects.get(grade=facility.grade).shortfalls(facility) == []
        assert facility.operator is not None and facility.operator.is_operator
        assert facility.park is None or facility.park.region_id == facility.region_id
    assert {f.grade for f in facilities} == {"L2", "L3", "L4"}
    # Every prefecture and 贵安 has at least one facility.
    assert {f.region.code for f in facilities} == set(Region.objects.values_list("code", flat=True))


def test_the_rubric_is_enforced_on_seeded_facilities(guizhou):
    # Guards the test above: a facility that loses its certification fails its L4 grade.
    facility = Facility.objects.filter(grade="L4").first()
    facility.security_certification = ""
    with pytest.raises(ValidationError) as exc:
        facility.full_clean()
    assert "grade" in exc.value.error_dict


def test_parks_are_the_named_sites_plus_four_provincial_placeholders(guizhou):
    parks = list(Park.objects.select_related("region"))
    provincial = [p for p in parks if p.is_provincial]
    assert len(provincial) == 4
    assert all(not p.name_confirmed for p in provincial)
    named = {p.name: p.region.name for p in parks if not p.is_provincial}
    assert named == NAMED_SITES
    assert all(p.name_confirmed for p in parks if not p.is_provincial)
    bainiaohe = next(p for p in parks if p.name == "百鸟河数字小镇")
    assert "惠水" in bainiaohe.notes


def test_enterprises_are_samples_with_valid_credit_codes(guizhou):
    enterprises = list(Enterprise.objects.all())
    assert len(enterprises) == 11
    names = " ".join(e.name for e in enterprises)
    for name in ["景联文", "博彦科技", "科大讯飞", "百事通", "东软", "上海本原智数", "百度智能云"]:
        assert name in names
    for name in ["重庆菲利信", "聚瑞达科技", "贵州元壤智能", "贵州梦动科技"]:
        assert name in names
    for enterprise in enterprises:
        validate_credit_code(enterprise.credit_code)
        assert uscc.is_valid(enterprise.credit_code)
        assert enterprise.is_sample
    assert len({e.credit_code for e in enterprises}) == len(enterprises)


def test_languages_include_mandarin_and_the_minority_codes(guizhou):
    languages = {lang.code: lang for lang in Language.objects.all()}
    assert not languages["cmn"].is_minority
    assert set(languages) == MINORITY_CODES | {"cmn"}
    assert all(languages[code].is_minority for code in MINORITY_CODES)
    unconfirmed = {code for code, lang in languages.items() if not lang.code_confirmed}
    assert unconfirmed == {"ywu", "yig"}
    for language in languages.values():
        language.full_clean()


def test_headcount_targets_baseline_and_prefecture_split(guizhou):
    province = {
        (t.year, t.kind): t.number for t in HeadcountTarget.objects.filter(scope=TargetScope.PROVINCE)
    }
    assert province == {(2025, TargetKind.BASELINE): 10_000, (2026, TargetKind.TARGET): 20_000}
    split = HeadcountTarget.objects.filter(scope=TargetScope.REGION, year=2026, kind=TargetKind.TARGET)
    by_region = {t.region.code: t.number for t in split.select_related("region")}
    assert set(by_region) == set(Region.objects.values_list("code", flat=True))
    assert sum(by_region.values()) == 20_000
    guian = Region.objects.get(name="贵安新区").code
    assert sorted(by_region, key=by_region.get, reverse=True)[:2] == ["520100", guian]
    assert all("assumption" in t.source for t in split)


def test_loading_twice_changes_nothing(guizhou):
    assert all(counts[CREATED] and not counts[UPDATED] for counts in guizhou.values())
    before = dump(REFERENCE_MODELS)
    summary = load_reference_data()
    assert dump(REFERENCE_MODELS) == before
    assert all(set(counts) == {UNCHANGED} for counts in summary.values())


def test_loading_again_repairs_changed_rows_only(guizhou):
    before = dump(REFERENCE_MODELS)
    Facility.objects.filter(code="gy-yunyan-mengdong").update(seats=3)
    Region.objects.filter(code="520100").update(short_name="x")
    summary = load_reference_data()
    assert summary[Facility][UPDATED] == 1 and summary[Region][UPDATED] == 1
    assert dump(REFERENCE_MODELS) == before


def test_a_split_that_does_not_add_up_is_refused_and_nothing_is_loaded(db, tmp_path):
    data = read_reference_data()
    data["headcount_targets"]["region"]["numbers"]["520100"] += 1
    path = tmp_path / "guizhou.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="20001"):
        load_reference_data(path=path)
    assert not Region.objects.exists()


def test_headcount_command_reports_the_provincial_target(guizhou):
    out = StringIO()
    call_command("headcount", "--date", "2026-12-31", "--scope", "province", "--json", stdout=out)
    (row,) = json.loads(out.getvalue())
    assert (row["scope"], row["code"], row["target"]) == ("province", "520000", 20_000)
    assert (row["headcount"], row["percentage"]) == (0, 0.0)


@translation.override("en")  # the summary is translated; compare the English msgids
def test_seed_command_loads_and_summarises(db):
    out = StringIO()
    call_command("seed_guizhou", "--annotators", "30", "--no-progress", stdout=out)
    assert Region.objects.count() == 10
    assert Annotator.objects.filter(is_synthetic=True).count() == 30
    assert "30 annotators added" in out.getvalue()
    out = StringIO()
    call_command("seed_guizhou", "--annotators", "30", "--no-progress", stdout=out)
    assert Annotator.objects.count() == 30
    assert "0 annotators added" in out.getvalue()
    assert " 0 created, 0 updated, 10 unchanged" in out.getvalue()


# --- synthetic workforce --------------------------------------------------------------------


def person_snapshot() -> dict[str, tuple]:
    """Everything about each synthetic person except database ids and ciphertexts."""
    spells = defaultdict(list)
    for row in Employment.objects.order_by("started_on").values_list(
        "annotator__code", "facility__code", "employer__credit_code", "started_on", "ended_on", "end_reason"
    ):
        spells[row[0]].append(row[1:])
    skills = defaultdict(set)
    for code, task, proficiency in AnnotatorSkill.objects.values_list(
        "annotator__code", "task_type", "proficiency"
    ):
        skills[code].add((task, proficiency))
    languages = defaultdict(set)
    for code, *rest in AnnotatorLanguage.objects.values_list(
        "annotator__code", "language_id", "proficiency", "verification", "verified_on"
    ):
        languages[code].add(tuple(rest))
    return {
        a.code: (
            a.name,
            a.id_card_number,
            a.id_card_digest,
            a.phone,
            a.facility.code,
            a.employer.credit_code,
            a.status,
            a.skill_level,
            a.is_reviewer,
            tuple(spells[a.code]),
            frozenset(skills[a.code]),
            frozenset(languages[a.code]),
        )
        for a in Annotator.objects.select_related("facility", "employer")
    }


def test_generator_is_deterministic_and_extends_without_touching_existing_people(guizhou):
    assert generate_workforce(annotators=150, progress=False) == 150
    first = person_snapshot()
    assert sorted(first) == [f"SYN{i:06d}" for i in range(1, 151)]

    Annotator.objects.filter(is_synthetic=True).delete()
    assert generate_workforce(annotators=150, progress=False) == 150
    assert person_snapshot() == first

    before = dump(WORKFORCE_MODELS)
    assert generate_workforce(annotators=150, progress=False) == 0
    assert dump(WORKFORCE_MODELS) == before

    assert generate_workforce(annotators=200, progress=False) == 50
    extended = person_snapshot()
    assert len(extended) == 200
    assert {code: extended[code] for code in first} == first


def test_another_seed_gives_other_people(guizhou):
    generate_workforce(annotators=50, progress=False)
    first = person_snapshot()
    Annotator.objects.filter(is_synthetic=True).delete()
    generate_workforce(annotators=50, seed=7, progress=False)
    other = person_snapshot()
    assert sum(first[code][4] != other[code][4] for code in first) > 10  # facilities differ
    # The ID-card number belongs to the index, not the seed: it is the natural identity.
    assert all(first[code][1] == other[code][1] for code in first)


def check_workforce_invariants() -> dict[str, float]:
    """Asserts the history rules for every synthetic annotator; returns the mix."""
    facilities = {f.pk: f for f in Facility.objects.select_related("region")}
    annotators = {a.pk: a for a in Annotator.objects.filter(is_synthetic=True)}
    spells = defaultdict(list)
    for e in Employment.objects.filter(annotator__is_synthetic=True).order_by("annotator", "started_on"):
        spells[e.annotator_id].append(e)
    assert set(spells) == set(annotators)

    leavers = transferred = rehired = 0
    for pk, history in spells.items():
        annotator = annotators[pk]
        for spell in history:
            facility = facilities[spell.facility_id]
            assert spell.employer_id == facility.operator_id
            assert HISTORY_START <= spell.started_on <= HISTORY_END
            assert spell.ended_on is None or spell.started_on <= spell.ended_on <= HISTORY_END
            assert facility.opened_on is None or spell.started_on >= facility.opened_on
        for earlier, later in zip(history, history[1:], strict=False):
            assert earlier.ended_on is not None and earlier.ended_on < later.started_on
            if earlier.end_reason == "transfer":
                assert later.started_on == earlier.ended_on + dt.timedelta(days=1)
                assert later.facility_id != earlier.facility_id
                transferred += 1
            else:
                rehired += 1
        current = history[-1]
        assert (annotator.facility_id, annotator.employer_id) == (current.facility_id, current.employer_id)
        expected_status = AnnotatorStatus.ACTIVE if current.ended_on is None else AnnotatorStatus.LEFT
        assert annotator.status == expected_status
        leavers += current.ended_on is not None
    n = len(annotators)
    return {"leavers": leavers / n, "transferred": transferred / n, "rehired": rehired / n}


def language_mix() -> tuple[dict[str, Counter], Counter]:
    """Minority languages spoken, and people, by the prefecture of each person's first facility."""
    first_region = {}
    for annotator_id, region in Employment.objects.order_by("-started_on").values_list(
        "annotator_id", "facility__region__code"
    ):
        first_region[annotator_id] = region
    mix: dict[str, Counter] = defaultdict(Counter)
    for annotator_id, code in AnnotatorLanguage.objects.filter(language__is_minority=True).values_list(
        "annotator_id", "language_id"
    ):
        mix[first_region[annotator_id]][code] += 1
    return mix, Counter(first_region.values())


def test_synthetic_history_follows_the_employment_rules(guizhou):
    generate_workforce(annotators=600, progress=False)
    mix = check_workforce_invariants()
    assert 0.08 <= mix["leavers"] <= 0.24
    assert mix["transferred"] > 0 and mix["rehired"] > 0


@pytest.mark.slow
def test_programme_scale_workforce(guizhou):
    started = time.perf_counter()
    assert generate_workforce(annotators=20_000, progress=False) == 20_000
    seconds = time.perf_counter() - started
    # Reported, not asserted: timing belongs to benchmarks on this shared machine.
    print(f"\ngenerate_workforce(annotators=20000): {seconds:.1f} s")

    assert generate_workforce(annotators=20_000, progress=False) == 0
    assert Annotator.objects.count() == 20_000

    # A realistic mix.
    mix = check_workforce_invariants()
    assert 0.12 <= mix["leavers"] <= 0.18, mix
    assert 0.035 <= mix["transferred"] <= 0.065, mix
    assert 0.01 <= mix["rehired"] <= 0.05, mix
    levels = Counter(Annotator.objects.values_list("skill_level", flat=True))
    assert (levels[5] + levels[4]) / 20_000 >= 0.75 and levels[5] > levels[4] > levels[3]
    assert Annotator.objects.filter(skills__isnull=True).count() == 0
    assert AnnotatorLanguage.objects.filter(language_id="cmn").count() == 20_000
    assert not AnnotatorLanguage.objects.filter(
        verification=Verification.SELF_DECLARED, verified_on__isnull=False
    ).exists()
    assert (
        not AnnotatorLanguage.objects.exclude(verification=Verification.SELF_DECLARED)
        .filter(verified_on__isnull=True)
        .exists()
    )

    languages, people = language_mix()

    def speakers_per_person(regions: set[str]) -> float:
        return sum(sum(languages[r].values()) for r in regions) / sum(people[r] for r in regions)

    autonomous_share = speakers_per_person(AUTONOMOUS)
    elsewhere_share = speakers_per_person(set(people) - AUTONOMOUS)
    assert autonomous_share > 10 * elsewhere_share
    assert {c for c, _ in languages["522600"].most_common(2)} <= {"hms", "hea", "hmq", "kmc", "doc"}
    assert {c for c, _ in languages["522700"].most_common(2)} == {"pcc", "swi"}
    assert {c for c, _ in languages["522300"].most_common(2)} == {"pcc", "cqd"}

    # Headcount, exactly as counted independently from every spell in Python.
    units = {
        f.pk: {"region": f.region.code, "park": f.park.code if f.park else None, "facility": f.code}
        for f in Facility.objects.select_related("region", "park")
    }
    all_codes = {
        "province": {"520000"},
        "region": set(Region.objects.values_list("code", flat=True)),
        "park": set(Park.objects.values_list("code", flat=True)),
        "facility": set(Facility.objects.values_list("code", flat=True)),
    }
    spells = list(Employment.objects.values_list("facility_id", "started_on", "ended_on"))
    transfer = Employment.objects.filter(end_reason="transfer").order_by("pk").first()
    days = [
        dt.date(2024, 6, 30),
        dt.date(2025, 6, 30),
        dt.date(2025, 12, 31),
        dt.date(2026, 3, 1),
        timezone.localdate(),
        dt.date(2026, 11, 30),
        dt.date(2026, 12, 31),
        transfer.ended_on,
        transfer.ended_on + dt.timedelta(days=1),
    ]
    for day in days:
        expected = {"province": Counter(), "region": Counter(), "park": Counter(), "facility": Counter()}
        for facility_id, started_on, ended_on in spells:
            if started_on <= day and (ended_on is None or day <= ended_on):
                expected["province"]["520000"] += 1
                for scope, code in units[facility_id].items():
                    if code is not None:
                        expected[scope][code] += 1
        for scope, counts in expected.items():
            rows = headcount_by_scope(day=day, scope=scope)
            got = {row.code: row.headcount for row in rows}
            assert len(rows) == len(got)
            assert got == {code: counts[code] for code in all_codes[scope]}, (day, scope)
        if day.year == 2026:
            (province,) = headcount_by_scope(day=day, scope="province")
            assert province.target == 20_000
            assert province.percentage == round(expected["province"]["520000"] / 200, 1)

    # About 10,000 in work at the end of 2025, as reported.
    (end_2025,) = headcount_by_scope(day=dt.date(2025, 12, 31), scope="province")
    assert 8_500 <= end_2025.headcount <= 11_500
