from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from qianbiao.portal.selectors import EXAM_NONE, EXAM_PENDING
from qianbiao.quality.models import ExamStatus

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@register.filter
def minutes(value) -> int:
    """A timedelta in whole minutes, at least 1 (axes' cool-off on the lockout page)."""
    return max(1, int(value.total_seconds() // 60)) if value else 1


@register.simple_tag
def exam_label(work) -> str:
    if work.exam_status == EXAM_NONE:
        return _("No entry exam")
    if work.exam_status == EXAM_PENDING:
        return _("In progress (%(size)d gold items)") % {"size": work.exam_size}
    label = ExamStatus(work.exam_status).label
    if work.exam_answered:
        return f"{label} ({work.exam_correct}/{work.exam_answered})"
    return str(label)
