"""Import of annotators from CSV or Excel, hired in bulk.

A row is checked with the same personal-data check as hiring in the admin
(``annotator_prepare_personal_data``); enterprises, facilities and languages are
looked up once for the whole file, so that 20,000 rows cost a few queries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from qianbiao.core.tabular import SheetBooleanField, SheetRow, SheetRowForm, TabularImporter, UniqueKey
from qianbiao.core.validators import normalize_credit_code, validate_credit_code
from qianbiao.enterprises.models import Enterprise
from qianbiao.programme.models import Facility

from .forms import employer_check, personal_data_check
from .models import (
    Annotator,
    Language,
    LanguageProficiency,
    SkillLevel,
    SkillProficiency,
    TaskType,
    Verification,
)
from .services import HireSpec, LanguageSpec, SkillSpec, annotators_bulk_hire

# Both the digit and the wording of the national standard are in use on paper.
SKILL_LEVEL_WORDS = {
    "五级": 5,
    "初级工": 5,
    "四级": 4,
    "中级工": 4,
    "三级": 3,
    "高级工": 3,
    "二级": 2,
    "技师": 2,
    "一级": 1,
    "高级技师": 1,
}
LANGUAGE_PROFICIENCY_WORDS = {level.name.lower(): level.value for level in LanguageProficiency}
SKILL_PROFICIENCY_WORDS = {level.name.lower(): level.value for level in SkillProficiency}
# Full-width separators come from Chinese input methods.
ITEM_SEPARATOR = re.compile(r"[;；]")
PART_SEPARATOR = re.compile(r"[:：]")


def _items(value: str) -> list[list[str]]:
    return [
        [part.strip() for part in PART_SEPARATOR.split(item)]
        for item in ITEM_SEPARATOR.split(value or "")
        if item.strip()
    ]


def _level(text: str, words: dict[str, int], values: Sequence[int]) -> int | None:
    text = text.strip().lower()
    if text.isdigit() and int(text) in values:
        return int(text)
    return words.get(text)


class SkillLevelCellField(forms.Field):
    default_error_messages = {
        "invalid": _("Give a skill level from 1 to 5, or 五级 to 一级."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> int:
        text = str(value or "").strip()
        if not text:
            return SkillLevel.LEVEL_5
        level = _level(text, SKILL_LEVEL_WORDS, SkillLevel.values)
        if level is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return level


class SkillsCellField(forms.Field):
    """``bounding_box:2;named_entities:1`` — task type and proficiency (1–3 or
    basic/proficient/expert; basic when left out)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> tuple[SkillSpec, ...]:
        skills: dict[str, SkillSpec] = {}
        for parts in _items(str(value or "")):
            task_type = parts[0].lower()
            if task_type not in TaskType.values:
                raise ValidationError(
                    _("Unknown task type %(value)s; use one of %(choices)s."),
                    code="unknown_task_type",
                    params={"value": parts[0], "choices": ", ".join(TaskType.values)},
                )
            if len(parts) > 2:
                raise ValidationError(
                    _("Write a skill as task_type:proficiency, e.g. bounding_box:2."), code="invalid"
                )
            proficiency: int | None = SkillProficiency.BASIC
            if len(parts) == 2 and parts[1]:
                proficiency = _level(parts[1], SKILL_PROFICIENCY_WORDS, SkillProficiency.values)
            if proficiency is None:
                raise ValidationError(
                    _("Unknown proficiency %(value)s for %(task)s; use 1–3 or basic, proficient, expert."),
                    code="invalid_proficiency",
                    params={"value": parts[1], "task": task_type},
                )
            if task_type in skills:
                raise ValidationError(
                    _("%(task)s is listed twice."), code="duplicate", params={"task": task_type}
                )
            skills[task_type] = SkillSpec(task_type=task_type, proficiency=proficiency)
        return tuple(skills.values())


class LanguagesCellField(forms.Field):
    """``hmn:native:certificate;pcc:working:test`` — ISO 639-3 code,
    proficiency (working/fluent/native or 1–3) and, optionally, how it was
    verified (self_declared when left out). The form checks that the codes
    are known."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> tuple[LanguageSpec, ...]:
        languages: dict[str, LanguageSpec] = {}
        for parts in _items(str(value or "")):
            code = parts[0].lower()
            if len(parts) not in (2, 3):
                raise ValidationError(
                    _("Write a language as code:proficiency[:verification], e.g. hmn:native:certificate."),
                    code="invalid",
                )
            proficiency = _level(parts[1], LANGUAGE_PROFICIENCY_WORDS, LanguageProficiency.values)
            if proficiency is None:
                raise ValidationError(
                    _("Unknown proficiency %(value)s for %(code)s; use native, fluent or working."),
                    code="invalid_proficiency",
                    params={"value": parts[1], "code": code},
                )
            verification = parts[2].lower() if len(parts) == 3 and parts[2] else Verification.SELF_DECLARED
            if verification not in Verification.values:
                raise ValidationError(
                    _("Unknown verification %(value)s; use one of %(choices)s."),
                    code="invalid_verification",
                    params={"value": parts[2], "choices": ", ".join(Verification.values)},
                )
            if code in languages:
                raise ValidationError(_("%(code)s is listed twice."), code="duplicate", params={"code": code})
            languages[code] = LanguageSpec(code=code, proficiency=proficiency, verification=verification)
        return tuple(languages.values())


class AnnotatorRowForm(SheetRowForm):
    code = Annotator._meta.get_field("code").formfield()
    name = Annotator._meta.get_field("name").formfield()
    id_card_number = forms.CharField(label=_("resident ID-card number"), max_length=32)
    phone = forms.CharField(label=_("mobile phone"), max_length=32, required=False)
    employer_credit_code = forms.CharField(label=_("employer credit code"), max_length=32)
    facility_code = forms.CharField(label=_("facility code"), max_length=32)
    skill_level = SkillLevelCellField(label=_("skill level"))
    started_on = forms.DateField(label=_("started on"), input_formats=["%Y-%m-%d"])
    skills = SkillsCellField(label=_("skills"))
    languages = LanguagesCellField(label=_("languages"))
    is_reviewer = SheetBooleanField(label=_("reviewer"))

    def __init__(
        self,
        *args: Any,
        employers: dict[str, Enterprise],
        facilities: dict[str, Facility],
        language_codes: set[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.employers, self.facilities, self.language_codes = employers, facilities, language_codes

    def clean_employer_credit_code(self) -> Enterprise:
        code = normalize_credit_code(self.cleaned_data["employer_credit_code"])
        validate_credit_code(code)
        if code not in self.employers:
            raise ValidationError(_("No data enterprise has this credit code."), code="unknown")
        return self.employers[code]

    def clean_facility_code(self) -> Facility:
        code = self.cleaned_data["facility_code"]
        if code not in self.facilities:
            raise ValidationError(_("No facility has this code."), code="unknown")
        return self.facilities[code]

    def clean_languages(self) -> tuple[LanguageSpec, ...]:
        languages = self.cleaned_data["languages"]
        unknown = sorted(lang.code for lang in languages if lang.code not in self.language_codes)
        if unknown:
            raise ValidationError(
                _("Unknown language code %(value)s."),
                code="unknown_language",
                params={"value": ", ".join(unknown)},
            )
        return languages

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        employer_check(self, "employer_credit_code", cleaned.get("employer_credit_code"))
        if cleaned.get("id_card_number"):
            scratch = personal_data_check(
                self, id_card_number=cleaned["id_card_number"], phone=cleaned.get("phone", "")
            )
            if scratch is not None:
                cleaned["id_card_number"] = scratch.id_card_number
                cleaned["phone"] = scratch.phone
                cleaned["id_card_digest"] = scratch.id_card_digest
        return cleaned


class AnnotatorImporter(TabularImporter):
    name = "annotators"
    model = Annotator
    columns = (
        "code",
        "name",
        "id_card_number",
        "phone",
        "employer_credit_code",
        "facility_code",
        "skill_level",
        "started_on",
        "skills",
        "languages",
        "is_reviewer",
    )
    required_columns = (
        "code",
        "name",
        "id_card_number",
        "employer_credit_code",
        "facility_code",
        "started_on",
    )
    unique_keys = (
        UniqueKey(column="code", cleaned_key="code", model_field="code"),
        UniqueKey(column="id_card_number", cleaned_key="id_card_digest", model_field="id_card_digest"),
    )
    column_help = {
        "id_card_number": _("18-character resident ID-card number with its check digit."),
        "phone": _("11-digit mainland mobile number; may be empty."),
        "employer_credit_code": _("Credit code of an operator already registered."),
        "facility_code": _("Code of a facility already registered."),
        "skill_level": _("1–5 or 五级 … 一级; 5 (entry level) when empty."),
        "started_on": _("First day of employment, YYYY-MM-DD."),
        "skills": _("task_type:proficiency separated by semicolons, e.g. bounding_box:2;named_entities:1."),
        "languages": _(
            "code:proficiency:verification separated by semicolons, "
            "e.g. hmn:native:certificate;pcc:working:test."
        ),
        "is_reviewer": _("yes or no (1 or 0)"),
    }

    def prepare(self, rows: Sequence[SheetRow]) -> None:
        credit_codes = {normalize_credit_code(row.values.get("employer_credit_code", "")) for row in rows}
        facility_codes = {row.values.get("facility_code", "") for row in rows}
        self.employers = {
            enterprise.credit_code: enterprise
            for enterprise in Enterprise.objects.filter(credit_code__in=credit_codes - {""})
        }
        self.facilities = {
            facility.code: facility for facility in Facility.objects.filter(code__in=facility_codes - {""})
        }
        self.language_codes = set(Language.objects.values_list("code", flat=True))

    def form(self, data: dict[str, str]) -> AnnotatorRowForm:
        return AnnotatorRowForm(
            data=data,
            employers=self.employers,
            facilities=self.facilities,
            language_codes=self.language_codes,
        )

    def record(self, form: forms.BaseForm) -> HireSpec:
        data = form.cleaned_data
        return HireSpec(
            code=data["code"],
            name=data["name"],
            id_card_number=data["id_card_number"],
            phone=data["phone"],
            employer=data["employer_credit_code"],
            facility=data["facility_code"],
            started_on=data["started_on"],
            skill_level=data["skill_level"],
            skills=data["skills"],
            languages=data["languages"],
            is_reviewer=data["is_reviewer"],
        )

    def create(self, records: list[Any]) -> int:
        return len(annotators_bulk_hire(hires=records))
