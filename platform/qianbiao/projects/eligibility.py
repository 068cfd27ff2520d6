"""Who may work on a project at all (selectors; no writes)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from qianbiao.programme.models import Grade, grade_rank
from qianbiao.workforce.models import Annotator, AnnotatorLanguage, AnnotatorSkill, AnnotatorStatus

from .models import AnnotatorStanding, DatasetProject


def grades_at_least(grade: str) -> list[str]:
    return [g for g in Grade.values if grade_rank(g) >= grade_rank(grade)]


def eligible_annotators(*, project: DatasetProject) -> QuerySet[Annotator]:
    """Active annotators seated in a facility of at least the project's grade,
    holding its skill and language at the required proficiency, and not paused
    for quality in this project."""
    qs = Annotator.objects.filter(
        status=AnnotatorStatus.ACTIVE,
        facility__grade__in=grades_at_least(project.min_grade),
    ).filter(
        Exists(
            AnnotatorSkill.objects.filter(
                annotator=OuterRef("pk"),
                task_type=project.task_type,
                proficiency__gte=project.min_skill_proficiency,
            )
        )
    )
    if project.required_language_id:
        qs = qs.filter(
            Exists(
                AnnotatorLanguage.objects.filter(
                    annotator=OuterRef("pk"),
                    language_id=project.required_language_id,
                    proficiency__gte=project.min_language_proficiency,
                )
            )
        )
    return qs.exclude(
        Exists(AnnotatorStanding.objects.filter(project=project, annotator=OuterRef("pk"), paused=True))
    )


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
