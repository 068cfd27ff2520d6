"""A synthetic annotation workforce sized to the programme (20,000 annotators).

Deterministic and idempotent: annotator ``SYN000042`` is always the same person
(same name, ID-card number, facility, skills, languages and history) for a given
seed and the same facilities, because everything about them comes from a random
generator seeded with their own index — never from the order of generation or
from which annotators already exist. Running again with the same ``annotators`` adds nothing; a larger
number adds only the missing people.

The history is dated so that headcount on any past day can be computed: hires
spread from 2024 to November 2026 (growing over time, as the programme did),
about 15% leavers, about 5% transfers between facilities and some rehires. It
follows the same rules as ``qianbiao.workforce.services``: at most one open
spell, spells never overlap, a transfer closes one spell the day before the
next begins, and the annotator's facility, employer and status are those of
their latest spell.

Rows are written with ``bulk_create`` in batches, one transaction per batch,
so that a person is either complete (with skills, languages and history) or
absent. Personal data is given to the model in plain text: EncryptedTextField
encrypts it on the way to the database, so pre-encrypting would encrypt twice.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

from django.db import transaction
from tqdm import tqdm

from qianbiao.core.crypto import pii_digest
from qianbiao.programme.models import Facility
from qianbiao.workforce.models import (
    Annotator,
    AnnotatorLanguage,
    AnnotatorSkill,
    AnnotatorStatus,
    Employment,
    LanguageProficiency,
    SkillLevel,
    SkillProficiency,
    TaskType,
    Verification,
)
from seeds.identity import synthetic_id_card, synthetic_phone

CODE_PREFIX = "SYN"
# Fixed dates, never "today", so that the same seed gives the same history
# whenever it is generated.
HISTORY_START = dt.date(2024, 1, 1)
HISTORY_END = dt.date(2026, 11, 30)
BATCH_SIZE = 2000

# Hire dates have a density rising linearly over each facility's window (in
# proportion to offset + x for x from 0 to 1). With 20,000 people this puts
# about 10,000 in work at the end of 2025, as reported, and about 17,000 (85% of
# the 2026 target) at the end of the history.
_GROWTH_OFFSET = 1.0

# Shares of fates, drawn once per person.
_TRANSFER_SHARE = 0.05
_REHIRE_SHARE = 0.03
_LEAVER_SHARE = 0.14
_TRANSFEREE_LEAVES = 0.15  # of those who transferred, share who later leave too
_SAME_REGION_TRANSFER = 0.6

_SKILL_LEVELS = [
    SkillLevel.LEVEL_5,
    SkillLevel.LEVEL_4,
    SkillLevel.LEVEL_3,
    SkillLevel.LEVEL_2,
    SkillLevel.LEVEL_1,
]
_SKILL_LEVEL_WEIGHTS = [55, 30, 11, 3.5, 0.5]

_TASK_WEIGHTS = {
    TaskType.BOUNDING_BOX: 30,
    TaskType.TEXT_CLASSIFICATION: 20,
    TaskType.NAMED_ENTITIES: 14,
    TaskType.TRANSCRIPTION: 14,
    TaskType.POLYGON: 12,
    TaskType.VIDEO_TRACKING: 10,
}
# Per skill level: weights of basic / proficient / expert.
_PROFICIENCY_BY_LEVEL = {5: (70, 28, 2), 4: (25, 60, 15)}
_PROFICIENCY_SENIOR = (5, 40, 55)

# Illustrative shares (not survey data) of annotators speaking each minority
# language, by the prefecture of their first facility: concentrated in the three
# autonomous prefectures, a little elsewhere, and a trickle of people from the
# prefectures who moved to the core (default).
_MINORITY_LANGUAGES: dict[str, list[tuple[str, float]]] = {
    # 黔东南: Miao (Qiandong varieties), Dong
    "522600": [("hms", 0.25), ("hea", 0.12), ("hmq", 0.06), ("kmc", 0.18), ("doc", 0.10)],
    "522700": [("pcc", 0.35), ("swi", 0.22), ("hmn", 0.04)],  # 黔南: Bouyei, Sui
    "522300": [("pcc", 0.40), ("cqd", 0.22)],  # 黔西南: Bouyei, Miao
    "520500": [("ywu", 0.05), ("yig", 0.03), ("cqd", 0.04)],  # 毕节: Yi, Miao
    "520600": [("tji", 0.03), ("hmn", 0.03)],  # 铜仁: Tujia, Miao
    "520400": [("pcc", 0.04), ("cqd", 0.03)],  # 安顺
    "520300": [("gqu", 0.01), ("aou", 0.01)],  # 遵义: Gelao
    "520200": [("cqd", 0.02), ("giw", 0.01)],  # 六盘水
}
_DEFAULT_MINORITY = [("cqd", 0.01), ("pcc", 0.01)]
_LANGUAGE_PROFICIENCY = [LanguageProficiency.NATIVE, LanguageProficiency.FLUENT, LanguageProficiency.WORKING]
_LANGUAGE_PROFICIENCY_WEIGHTS = [60, 30, 10]
_VERIFICATIONS = [Verification.TEST, Verification.CERTIFICATE, Verification.SELF_DECLARED]
_VERIFICATION_WEIGHTS = [40, 15, 45]

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
    "魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹龙莫蒙岑班"
)
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞斌波宇浩凯晨欣怡雪梅琳婷阳丹燕"


def annotator_code(index: int) -> str:
    return f"{CODE_PREFIX}{index:06d}"


@dataclass(frozen=True)
class _Place:
    facility_id: int
    employer_id: int
    region_code: str
    seats: int
    opened_on: dt.date


@dataclass(frozen=True)
class _Spell:
    place: _Place
    started_on: dt.date
    ended_on: dt.date | None = None
    end_reason: str = ""


@dataclass
class _Person:
    index: int
    name: str
    skill_level: int
    is_reviewer: bool
    spells: list[_Spell]
    skills: list[tuple[str, int]] = field(default_factory=list)
    languages: list[tuple[str, int, str, dt.date | None]] = field(default_factory=list)


class _Places:
    """The facilities people can work at, chosen in proportion to their seats."""

    def __init__(self, places: list[_Place]):
        self.all = places
        self.cum_seats = list(accumulate(p.seats for p in places))
        # Sorted by opening day for "which facilities are open on day X".
        self.by_opening = sorted(places, key=lambda p: p.opened_on)
        self.opening_days = [p.opened_on for p in self.by_opening]

    def pick(self, rng: random.Random) -> _Place:
        return rng.choices(self.all, cum_weights=self.cum_seats)[0]

    def pick_open(
        self, rng: random.Random, *, on: dt.date, exclude: _Place | None = None, region: str | None = None
    ) -> _Place | None:
        candidates = [
            p
            for p in self.by_opening[: bisect_right(self.opening_days, on)]
            if p is not exclude and (region is None or p.region_code == region)
        ]
        if not candidates:
            return None
        return rng.choices(candidates, weights=[p.seats for p in candidates])[0]


def _load_places() -> _Places:
    facilities = (
        Facility.objects.filter(operator__isnull=False)
        .select_related("region")
        .order_by("code")
        .only("id", "operator_id", "seats", "opened_on", "region__code")
    )
    places = [
        _Place(
            facility_id=f.pk,
            employer_id=f.operator_id,  # type: ignore[arg-type]  # filtered on above
            region_code=f.region.code,
            seats=max(f.seats, 1),
            opened_on=max(f.opened_on or HISTORY_START, HISTORY_START),
        )
        for f in facilities
    ]
    places = [p for p in places if p.opened_on <= HISTORY_END]
    if not places:
        raise ValueError(
            "No facility with an operator is open before the end of the synthetic history: "
            "load the reference data first (python manage.py seed_guizhou)."
        )
    return _Places(places)


def _days(rng: random.Random, low: int, high: int) -> dt.timedelta:
    return dt.timedelta(days=rng.randint(low, high))


def _hire_date(rng: random.Random, place: _Place) -> dt.date:
    span = (HISTORY_END - place.opened_on).days
    # Inverse CDF of a density proportional to (offset + x) on [0, 1].
    a = _GROWTH_OFFSET
    x = -a + math.sqrt(a * a + 2 * rng.random() * (a + 0.5))
    return place.opened_on + dt.timedelta(days=round(x * span))


def _plan_spells(rng: random.Random, places: _Places) -> list[_Spell]:
    first = places.pick(rng)
    start = _hire_date(rng, first)
    room = (HISTORY_END - start).days
    fate = rng.random()

    if fate < _TRANSFER_SHARE and room >= 60:
        moved_on = start + _days(rng, 30, min(room, 540))
        region = first.region_code if rng.random() < _SAME_REGION_TRANSFER else None
        to = places.pick_open(rng, on=moved_on, exclude=first, region=region) or places.pick_open(
            rng, on=moved_on, exclude=first
        )
        if to is not None:
            spells = [_Spell(first, start, moved_on - dt.timedelta(days=1), "transfer")]
            left_room = (HISTORY_END - moved_on).days
            if rng.random() < _TRANSFEREE_LEAVES and left_room >= 7:
                return [*spells, _Spell(to, moved_on, moved_on + _days(rng, 7, left_room), "left")]
            return [*spells, _Spell(to, moved_on)]
    elif fate < _TRANSFER_SHARE + _REHIRE_SHARE and room >= 60:
        left_on = start + _days(rng, 14, room - 30)
        back_on = left_on + _days(rng, 7, min(240, (HISTORY_END - left_on).days))
        to = first if rng.random() < 0.6 else places.pick_open(rng, on=back_on) or first
        return [_Spell(first, start, left_on, "left"), _Spell(to, back_on)]
    elif fate < _TRANSFER_SHARE + _REHIRE_SHARE + _LEAVER_SHARE and room >= 7:
        return [_Spell(first, start, start + _days(rng, 7, min(room, 720)), "left")]
    return [_Spell(first, start)]


def _verified_on(rng: random.Random, verification: str, hired: dt.date) -> dt.date | None:
    if verification == Verification.SELF_DECLARED:
        return None
    return min(hired + _days(rng, 0, 45), HISTORY_END)


def _plan_person(index: int, *, seed: int, places: _Places) -> _Person:
    rng = random.Random(f"qianbiao-workforce:{seed}:{index}")
    name = rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2, 2))))
    skill_level = rng.choices(_SKILL_LEVELS, weights=_SKILL_LEVEL_WEIGHTS)[0]
    spells = _plan_spells(rng, places)
    hired = spells[0].started_on
    person = _Person(
        index=index,
        name=name,
        skill_level=skill_level,
        is_reviewer=skill_level <= SkillLevel.LEVEL_3 and rng.random() < 0.5,
        spells=spells,
    )

    minority: list[str] = [
        code
        for code, share in _MINORITY_LANGUAGES.get(spells[0].place.region_code, _DEFAULT_MINORITY)
        if rng.random() < share
    ]
    for code in minority:
        verification = rng.choices(_VERIFICATIONS, weights=_VERIFICATION_WEIGHTS)[0]
        proficiency = rng.choices(_LANGUAGE_PROFICIENCY, weights=_LANGUAGE_PROFICIENCY_WEIGHTS)[0]
        person.languages.append((code, proficiency, verification, _verified_on(rng, verification, hired)))
    # Everyone works in Mandarin; for minority-language speakers it is often a second language.
    cmn_proficiency = (
        LanguageProficiency.FLUENT if minority and rng.random() < 0.4 else LanguageProficiency.NATIVE
    )
    cmn_verification = Verification.CERTIFICATE if rng.random() < 0.2 else Verification.SELF_DECLARED
    person.languages.append(
        ("cmn", cmn_proficiency, cmn_verification, _verified_on(rng, cmn_verification, hired))
    )

    weights = dict(_TASK_WEIGHTS)
    if minority:
        weights[TaskType.TRANSCRIPTION] *= 3  # speech data in minority languages
    tasks: list[str] = []
    for _ in range(rng.choices((1, 2, 3), weights=(50, 35, 15))[0]):
        task = rng.choices(list(weights), weights=list(weights.values()))[0]
        weights.pop(task)
        tasks.append(task)
    proficiency_weights = _PROFICIENCY_BY_LEVEL.get(skill_level, _PROFICIENCY_SENIOR)
    person.skills = [
        (task, rng.choices(list(SkillProficiency.values), weights=proficiency_weights)[0]) for task in tasks
    ]
    return person


def _write(people: list[_Person]) -> None:
    annotators = []
    for person in people:
        current = person.spells[-1]
        id_card = synthetic_id_card(person.index)
        annotators.append(
            Annotator(
                code=annotator_code(person.index),
                name=person.name,
                id_card_number=id_card,
                id_card_digest=pii_digest(id_card),
                phone=synthetic_phone(person.index),
                employer_id=current.place.employer_id,
                facility_id=current.place.facility_id,
                skill_level=person.skill_level,
                status=AnnotatorStatus.ACTIVE if current.ended_on is None else AnnotatorStatus.LEFT,
                is_reviewer=person.is_reviewer,
                is_synthetic=True,
            )
        )
    with transaction.atomic():
        Annotator.objects.bulk_create(annotators, batch_size=BATCH_SIZE)
        pairs = list(zip(annotators, people, strict=True))
        AnnotatorSkill.objects.bulk_create(
            (
                AnnotatorSkill(annotator_id=a.pk, task_type=task, proficiency=proficiency)
                for a, p in pairs
                for task, proficiency in p.skills
            ),
            batch_size=BATCH_SIZE,
        )
        AnnotatorLanguage.objects.bulk_create(
            (
                AnnotatorLanguage(
                    annotator_id=a.pk,
                    language_id=code,
                    proficiency=proficiency,
                    verification=verification,
                    verified_on=verified_on,
                )
                for a, p in pairs
                for code, proficiency, verification, verified_on in p.languages
            ),
            batch_size=BATCH_SIZE,
        )
        Employment.objects.bulk_create(
            (
                Employment(
                    annotator_id=a.pk,
                    employer_id=s.place.employer_id,
                    facility_id=s.place.facility_id,
                    started_on=s.started_on,
                    ended_on=s.ended_on,
                    end_reason=s.end_reason,
                )
                for a, p in pairs
                for s in p.spells
            ),
            batch_size=BATCH_SIZE,
        )


def generate_workforce(*, annotators: int, seed: int = 2026, progress: bool = True) -> int:
    """Make sure synthetic annotators 1..``annotators`` exist; return how many were added."""
    if annotators < 0:
        raise ValueError("the number of annotators cannot be negative")
    existing = set(Annotator.objects.filter(code__startswith=CODE_PREFIX).values_list("code", flat=True))
    missing = [i for i in range(1, annotators + 1) if annotator_code(i) not in existing]
    if not missing:
        return 0
    places = _load_places()
    with tqdm(total=len(missing), unit="annotator", desc="synthetic workforce", disable=not progress) as bar:
        for start in range(0, len(missing), BATCH_SIZE):
            batch = missing[start : start + BATCH_SIZE]
            _write([_plan_person(i, seed=seed, places=places) for i in batch])
            bar.update(len(batch))
    return len(missing)
