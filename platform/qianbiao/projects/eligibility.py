"""Who may work on a project at all (selectors; no writes).

The rules are written once, in ``eligibility_rules``, as conditions on
Annotator: the distributor filters on all of them (``eligible_annotators``),
and revocation asks the database which of them an annotator holding work fails
now (``annotators_unmet_rules``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery

from qianbiao.programme.models import Grade, grade_rank
from qianbiao.workforce.models import (
    Annotator,
    AnnotatorLanguage,
    AnnotatorSkill,
    AnnotatorStatus,
    LanguageProficiency,
    SkillProficiency,
)

from .models import AnnotatorStanding, DatasetProject

RULE_ACTIVE = "active"
RULE_GRADE = "facility grade"
RULE_SKILL = "skill"
RULE_LANGUAGE = "language"
RULE_NOT_PAUSED = "not paused"


def grades_at_least(grade: str) -> list[str]:
    return [g for g in Grade.values if grade_rank(g) >= grade_rank(grade)]


def eligibility_rules(*, project: DatasetProject) -> list[tuple[str, Q]]:
    """The project's rules as (name, condition on Annotator): active, seated in a
    facility of at least the project's grade, holding its skill and language at
    the required proficiency, and not paused for quality in this project."""
    skill = AnnotatorSkill.objects.filter(
        annotator=OuterRef("pk"),
        task_type=project.task_type,
        proficiency__gte=project.min_skill_proficiency,
    )
    rules = [
        (RULE_ACTIVE, Q(status=AnnotatorStatus.ACTIVE)),
        (RULE_GRADE, Q(facility__grade__in=grades_at_least(project.min_grade))),
        (RULE_SKILL, Q(Exists(skill))),
    ]
    if project.required_language_id:
        language = AnnotatorLanguage.objects.filter(
            annotator=OuterRef("pk"),
            language_id=project.required_language_id,
            proficiency__gte=project.min_language_proficiency,
        )
        rules.append((RULE_LANGUAGE, Q(Exists(language))))
    paused = AnnotatorStanding.objects.filter(project=project, annotator=OuterRef("pk"), paused=True)
    rules.append((RULE_NOT_PAUSED, ~Q(Exists(paused))))
    return rules


def eligible_annotators(*, project: DatasetProject) -> QuerySet[Annotator]:
    """Annotators who meet every one of the project's ``eligibility_rules`` now."""
    return Annotator.objects.filter(*(condition for _, condition in eligibility_rules(project=project)))


def _level(choices: type[SkillProficiency] | type[LanguageProficiency], value: int | None) -> str:
    # Enum names rather than labels: the text is stored, labels follow the active language.
    return choices(value).name.lower() if value in choices.values else "none"


def _unmet_facts(rule: str, project: DatasetProject, row: dict[str, Any]) -> str:
    if rule == RULE_ACTIVE:
        return f"annotator {row['status']}"
    if rule == RULE_GRADE:
        return f"facility grade {row['facility__grade']} < required {project.min_grade}"
    if rule == RULE_SKILL:
        return (
            f"{project.task_type} skill {_level(SkillProficiency, row['skill_now'])}"
            f" < required {_level(SkillProficiency, project.min_skill_proficiency)}"
        )
    if rule == RULE_LANGUAGE:
        return (
            f"language {project.required_language_id} {_level(LanguageProficiency, row['language_now'])}"
            f" < required {_level(LanguageProficiency, project.min_language_proficiency)}"
        )
    return "paused for quality in this project"


def annotators_unmet_rules(
    *, project: DatasetProject, annotator_ids: Iterable[int]
) -> dict[int, list[tuple[str, str]]]:
    """The rules each of these annotators fails for the project now, as (rule
    name, facts), e.g. ("facility grade", "facility grade L2 < required L3").

    One query: the database evaluates the very conditions ``eligible_annotators``
    filters on, so the two cannot disagree. Annotators who meet every rule (or
    do not exist) are absent."""
    rules = eligibility_rules(project=project)
    meets = {
        f"meets_{n}": ExpressionWrapper(condition, output_field=BooleanField())
        for n, (_, condition) in enumerate(rules)
    }
    facts: dict[str, Subquery] = {
        "skill_now": Subquery(
            AnnotatorSkill.objects.filter(annotator=OuterRef("pk"), task_type=project.task_type).values(
                "proficiency"
            )[:1]
        )
    }
    if project.required_language_id:
        facts["language_now"] = Subquery(
            AnnotatorLanguage.objects.filter(
                annotator=OuterRef("pk"), language_id=project.required_language_id
            ).values("proficiency")[:1]
        )
    rows = (
        Annotator.objects.filter(pk__in=list(annotator_ids))
        .annotate(**meets, **facts)
        .values("pk", "status", "facility__grade", *meets, *facts)
    )
    unmet: dict[int, list[tuple[str, str]]] = {}
    for row in rows:
        failed = [name for n, (name, _) in enumerate(rules) if not row[f"meets_{n}"]]
        if failed:
            unmet[row["pk"]] = [(name, _unmet_facts(name, project, row)) for name in failed]
    return unmet


def eligibility_report(*, project: DatasetProject, annotator: Annotator) -> list[tuple[str, bool, str]]:
    """Each eligibility rule, whether the annotator meets it now, and the facts."""
    skill = AnnotatorSkill.objects.filter(annotator=annotator, task_type=project.task_type).first()
    report = [
        ("active", annotator.status == AnnotatorStatus.ACTIVE, f"status={annotator.status}"),
        (
            "facility grade",
            grade_rank(annotator.facility.grade) >= grade_rank(project.min_grade),
            f"{annotator.facility.code} is {annotator.facility.grade}, project needs ≥{project.min_grade}",
        ),
        (
            "skill",
            bool(skill and skill.proficiency >= project.min_skill_proficiency),
            f"{project.task_type}: has {skill.proficiency if skill else 'none'}, "
            f"needs ≥{project.min_skill_proficiency}",
        ),
    ]
    if project.required_language_id:
        lang = AnnotatorLanguage.objects.filter(
            annotator=annotator, language_id=project.required_language_id
        ).first()
        report.append(
            (
                "language",
                bool(lang and lang.proficiency >= project.min_language_proficiency),
                f"{project.required_language_id}: has {lang.proficiency if lang else 'none'}, "
                f"needs ≥{project.min_language_proficiency}",
            )
        )
    standing = AnnotatorStanding.objects.filter(project=project, annotator=annotator).first()
    report.append(
        (
            "not paused",
            not (standing and standing.paused),
            standing.paused_reason if standing and standing.paused else "in good standing",
        )
    )
    return report
