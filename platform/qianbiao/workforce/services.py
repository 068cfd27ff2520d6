"""Writes to the workforce. Every change of employment goes through here so that
the current facility/employer on Annotator and the dated history always agree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from qianbiao.core.crypto import pii_digest
from qianbiao.core.validators import (
    normalize_id_card,
    normalize_phone,
    validate_id_card,
    validate_mobile_phone,
)
from qianbiao.enterprises.models import Enterprise
from qianbiao.programme.models import Facility

from .models import (
    Annotator,
    AnnotatorLanguage,
    AnnotatorSkill,
    AnnotatorStatus,
    Employment,
    Language,
)


@dataclass(frozen=True)
class SkillSpec:
    task_type: str
    proficiency: int


@dataclass(frozen=True)
class LanguageSpec:
    code: str
    proficiency: int
    verification: str = "self_declared"
    verified_on: dt.date | None = None


def id_card_lookup_digest(raw: str) -> str:
    return pii_digest(normalize_id_card(raw))


def annotator_find_by_id_card(*, id_card_number: str) -> Annotator | None:
    return Annotator.objects.filter(id_card_digest=id_card_lookup_digest(id_card_number)).first()


def annotator_prepare_personal_data(annotator: Annotator, *, id_card_number: str, phone: str) -> None:
    """Validate, normalise and set the personal fields and the lookup digest."""
    id_card = normalize_id_card(id_card_number)
    validate_id_card(id_card)
    annotator.id_card_number = id_card
    annotator.id_card_digest = pii_digest(id_card)
    annotator.phone = normalize_phone(phone)
    if annotator.phone:
        try:
            validate_mobile_phone(annotator.phone)
        except ValidationError as exc:
            raise ValidationError({"phone": exc.messages}) from exc


@transaction.atomic
def annotator_hire(
    *,
    code: str,
    name: str,
    id_card_number: str,
    phone: str,
    employer: Enterprise,
    facility: Facility,
    started_on: dt.date,
    skill_level: int = 5,
    skills: Iterable[SkillSpec] = (),
    languages: Iterable[LanguageSpec] = (),
    is_reviewer: bool = False,
) -> Annotator:
    annotator = Annotator(
        code=code,
        name=name,
        employer=employer,
        facility=facility,
        skill_level=skill_level,
        is_reviewer=is_reviewer,
    )
    try:
        annotator_prepare_personal_data(annotator, id_card_number=id_card_number, phone=phone)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise
        raise ValidationError({"id_card_number": exc.messages}) from exc
    if Annotator.objects.filter(id_card_digest=annotator.id_card_digest).exists():
        raise ValidationError({"id_card_number": _("An annotator with this ID-card number exists.")})
    annotator.full_clean(exclude=["id_card_digest"])
    annotator.save()
    AnnotatorSkill.objects.bulk_create(
        AnnotatorSkill(annotator=annotator, task_type=s.task_type, proficiency=s.proficiency) for s in skills
    )
    AnnotatorLanguage.objects.bulk_create(
        AnnotatorLanguage(
            annotator=annotator,
            language=Language(code=lang.code),
            proficiency=lang.proficiency,
            verification=lang.verification,
            verified_on=lang.verified_on,
        )
        for lang in languages
    )
    Employment.objects.create(
        annotator=annotator, employer=employer, facility=facility, started_on=started_on
    )
    return annotator


def _open_spell(annotator: Annotator) -> Employment | None:
    return Employment.objects.select_for_update().filter(annotator=annotator, ended_on__isnull=True).first()


@transaction.atomic
def annotator_transfer(
    *,
    annotator: Annotator,
    facility: Facility,
    employer: Enterprise | None = None,
    on: dt.date,
) -> Employment:
    """Move an annotator to another facility (and possibly employer) from ``on``."""
    spell = _open_spell(annotator)
    if spell is None:
        raise ValidationError(_("The annotator is not employed; rehire them instead."))
    if on <= spell.started_on:
        raise ValidationError({"started_on": _("A transfer must come after the current spell began.")})
    spell.ended_on = on - dt.timedelta(days=1)
    spell.end_reason = "transfer"
    spell.save(update_fields=["ended_on", "end_reason"])
    employer = employer or spell.employer
    annotator.facility = facility
    annotator.employer = employer
    annotator.save(update_fields=["facility", "employer"])
    return Employment.objects.create(annotator=annotator, employer=employer, facility=facility, started_on=on)


@transaction.atomic
def annotator_leave(*, annotator: Annotator, last_day: dt.date, reason: str = "") -> Employment:
    spell = _open_spell(annotator)
    if spell is None:
        raise ValidationError(_("The annotator is not employed."))
    if last_day < spell.started_on:
        raise ValidationError({"ended_on": _("The last day cannot precede the start of employment.")})
    spell.ended_on = last_day
    spell.end_reason = reason or "left"
    spell.save(update_fields=["ended_on", "end_reason"])
    annotator.status = AnnotatorStatus.LEFT
    annotator.save(update_fields=["status"])
    return spell


@transaction.atomic
def annotator_rehire(
    *, annotator: Annotator, facility: Facility, employer: Enterprise, started_on: dt.date
) -> Employment:
    if _open_spell(annotator) is not None:
        raise ValidationError(_("The annotator is still employed."))
    last = Employment.objects.filter(annotator=annotator).order_by("-ended_on").first()
    if last and last.ended_on and started_on <= last.ended_on:
        raise ValidationError({"started_on": _("A new spell must start after the last one ended.")})
    annotator.facility = facility
    annotator.employer = employer
    annotator.status = AnnotatorStatus.ACTIVE
    annotator.save(update_fields=["facility", "employer", "status"])
    return Employment.objects.create(
        annotator=annotator, employer=employer, facility=facility, started_on=started_on
    )


@dataclass(frozen=True)
class HireSpec:
    """The arguments of ``annotator_hire`` for one person of a bulk hire."""

    code: str
    name: str
    id_card_number: str
    phone: str
    employer: Enterprise
    facility: Facility
    started_on: dt.date
    skill_level: int = 5
    skills: tuple[SkillSpec, ...] = ()
    languages: tuple[LanguageSpec, ...] = ()
    is_reviewer: bool = False


def _bulk_duplicates(annotators: list[Annotator]) -> list[ValidationError]:
    errors: list[ValidationError] = []
    for field, label in (("code", _("annotator number")), ("id_card_digest", _("ID-card number"))):
        first: dict[str, int] = {}
        for position, annotator in enumerate(annotators, start=1):
            value = getattr(annotator, field)
            if first.setdefault(value, position) != position:
                errors.append(
                    ValidationError(
                        _("Entry %(n)d has the same %(field)s as entry %(first)d."),
                        params={"n": position, "field": label, "first": first[value]},
                    )
                )
        values = list(first)
        existing: set[str] = set()
        # Chunked: PostgreSQL takes at most 65,535 parameters per query.
        for start in range(0, len(values), 5_000):
            chunk = values[start : start + 5_000]
            existing.update(Annotator.objects.filter(**{f"{field}__in": chunk}).values_list(field, flat=True))
        errors.extend(
            ValidationError(
                _("Entry %(n)d: an annotator with this %(field)s exists."),
                params={"n": first[value], "field": label},
            )
            for value in existing
        )
    return errors


@transaction.atomic
def annotators_bulk_hire(*, hires: Iterable[HireSpec], batch_size: int = 1000) -> list[Annotator]:
    """``annotator_hire`` for many people at once, all or none: the same
    invariants (validated personal data, lookup digest, one open employment
    spell) in a handful of queries instead of several per person."""
    hires = list(hires)
    annotators = _annotators_prepared(hires)
    Annotator.objects.bulk_create(annotators, batch_size=batch_size)
    _hire_rows_create(annotators=annotators, hires=hires, batch_size=batch_size)
    return annotators


def _annotators_prepared(hires: list[HireSpec]) -> list[Annotator]:
    """Unsaved annotators with their personal data prepared, or one
    ValidationError naming every bad entry (and duplicates) by position."""
    annotators: list[Annotator] = []
    errors: list[ValidationError] = []
    for position, hire in enumerate(hires, start=1):
        annotator = Annotator(
            code=hire.code,
            name=hire.name,
            employer=hire.employer,
            facility=hire.facility,
            skill_level=hire.skill_level,
            is_reviewer=hire.is_reviewer,
        )
        try:
            annotator_prepare_personal_data(annotator, id_card_number=hire.id_card_number, phone=hire.phone)
            # Foreign keys are excluded: validating them costs a query each, and
            # the caller passes instances it loaded.
            annotator.clean_fields(exclude=["id_card_digest", "employer", "facility"])
        except ValidationError as exc:
            errors.append(
                ValidationError(
                    _("Entry %(n)d: %(errors)s"), params={"n": position, "errors": " ".join(exc.messages)}
                )
            )
        annotators.append(annotator)
    errors.extend(_bulk_duplicates(annotators))
    if errors:
        raise ValidationError(errors)
    return annotators


def _hire_rows_create(*, annotators: list[Annotator], hires: list[HireSpec], batch_size: int) -> None:
    """Skills, languages and the first employment spell of saved annotators."""
    AnnotatorSkill.objects.bulk_create(
        (
            AnnotatorSkill(annotator=annotator, task_type=s.task_type, proficiency=s.proficiency)
            for annotator, hire in zip(annotators, hires, strict=True)
            for s in hire.skills
        ),
        batch_size=batch_size,
    )
    AnnotatorLanguage.objects.bulk_create(
        (
            AnnotatorLanguage(
                annotator=annotator,
                language_id=lang.code,
                proficiency=lang.proficiency,
                verification=lang.verification,
                verified_on=lang.verified_on,
            )
            for annotator, hire in zip(annotators, hires, strict=True)
            for lang in hire.languages
        ),
        batch_size=batch_size,
    )
    Employment.objects.bulk_create(
        (
            Employment(
                annotator=annotator,
                employer=hire.employer,
                facility=hire.facility,
                started_on=hire.started_on,
            )
            for annotator, hire in zip(annotators, hires, strict=True)
        ),
        batch_size=batch_size,
    )


@transaction.atomic
def annotator_personal_data_update(
    *, annotator: Annotator, id_card_number: str = "", phone: str = ""
) -> list[str]:
    """Replace the personal values that are given; an empty argument keeps the
    stored value and its ciphertext untouched. Returns the fields written."""
    if not id_card_number and not phone:
        return []
    try:
        annotator_prepare_personal_data(
            annotator,
            id_card_number=id_card_number or annotator.id_card_number,
            phone=phone or annotator.phone,
        )
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise
        raise ValidationError({"id_card_number": exc.messages}) from exc
    others = Annotator.objects.exclude(pk=annotator.pk)
    if id_card_number and others.filter(id_card_digest=annotator.id_card_digest).exists():
        raise ValidationError({"id_card_number": _("An annotator with this ID-card number exists.")})
    fields = ["id_card_number", "id_card_digest"] if id_card_number else []
    if phone:
        fields.append("phone")
    annotator.save(update_fields=fields)
    return fields
