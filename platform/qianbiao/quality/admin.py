"""Admin for quality control.

Results, gold marks, exams and reviews are quality control's record: read-only
here, written only through the services (a review is decided through
``review_decide``, which also writes the Result). What a project manager sets is
the quality policy, including pinning a consensus method; what they do to
people is un-pause them, which goes through ``annotator_unpause``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from qianbiao.projects.models import AnnotatorStanding

from .models import AnnotatorQuality, EntryExam, GoldJudgement, QualityPolicy, Result, Review
from .recheck import project_method_recheck
from .standing import annotator_unpause


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


@admin.register(QualityPolicy)
class QualityPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "project",
        "method_in_use",
        "pinned_method",
        "chosen_method",
        "max_overlap",
        "accuracy_threshold",
        "entry_exam_items",
        "method_checked_at",
    )
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    search_fields = ("project__name",)
    readonly_fields = ("chosen_method", "method_checked_at", "method_table")
    actions = ("recheck_method",)
    fieldsets = (
        (None, {"fields": ("project",)}),
        (_("Agreement"), {"fields": ("max_overlap", "extra_per_round", "iou_threshold", "text_tolerance")}),
        (
            _("Annotators"),
            {"fields": ("accuracy_threshold", "min_gold_to_pause", "entry_exam_items", "exam_pass_accuracy")},
        ),
        (
            _("Consensus method"),
            {"fields": ("pinned_method", "chosen_method", "method_checked_at", "method_table")},
        ),
    )

    @admin.display(description=_("method in use"))
    def method_in_use(self, obj: QualityPolicy) -> str:
        return obj.method

    @admin.display(description=_("accuracy of each method on gold"))
    def method_table(self, obj: QualityPolicy) -> str:
        if not obj.method_scores:
            return _("not measured yet (majority vote until there is enough gold)")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
            (
                (s["method"], s["correct"], s["total"], _percent(s["accuracy"]), s.get("error", ""))
                for s in obj.method_scores
            ),
        )
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{}</table>",
            gettext("method"),
            gettext("right"),
            gettext("accuracy"),
            rows,
        )

    @admin.action(description=_("Re-measure the consensus methods on gold now"))
    def recheck_method(self, request: HttpRequest, queryset: QuerySet[QualityPolicy]) -> None:
        for policy in queryset:
            policy = project_method_recheck(project_id=policy.project_id, force=True)
            self.message_user(request, f"{policy.project}: {policy.method}", messages.INFO)


@admin.register(AnnotatorQuality)
class AnnotatorQualityAdmin(ReadOnlyAdmin):
    list_display = (
        "annotator",
        "project",
        "task_type",
        "gold",
        "gold_interval",
        "consensus",
        "review",
        "score",
        "pause",
    )
    list_filter = ("task_type", "project")
    search_fields = ("=annotator__code", "annotator__name")
    list_select_related = ("annotator", "project")
    actions = ("unpause",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AnnotatorQuality]:
        return super().get_queryset(request).order_by("project", "score")

    def _standings(self, obj: AnnotatorQuality) -> AnnotatorStanding | None:
        return AnnotatorStanding.objects.filter(
            project_id=obj.project_id, annotator_id=obj.annotator_id
        ).first()

    @admin.display(description=_("gold right"))
    def gold(self, obj: AnnotatorQuality) -> str:
        return f"{obj.gold_correct}/{obj.gold_answered} ({_percent(obj.gold_accuracy)})"

    # xgettext:no-python-format
    @admin.display(description=_("gold 95% interval"))
    def gold_interval(self, obj: AnnotatorQuality) -> str:
        if obj.gold_low is None:
            return "—"
        return f"{obj.gold_low:.0%}–{obj.gold_high:.0%}"

    @admin.display(description=_("agreement with results"))
    def consensus(self, obj: AnnotatorQuality) -> str:
        if not obj.consensus_answered:
            return "—"
        return gettext("%(share)s of %(n)d") % {
            "share": _percent(obj.consensus_agreement_sum / obj.consensus_answered),
            "n": obj.consensus_answered,
        }

    @admin.display(description=_("agreement with reviews"))
    def review(self, obj: AnnotatorQuality) -> str:
        if not obj.reviewed:
            return "—"
        return gettext("%(share)s of %(n)d") % {
            "share": _percent(obj.review_agreement_sum / obj.reviewed),
            "n": obj.reviewed,
        }

    @admin.display(description=_("paused because"))
    def pause(self, obj: AnnotatorQuality) -> str:
        standing = self._standings(obj)
        return standing.paused_reason if standing and standing.paused else ""

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # The un-pause action needs it; the rows themselves stay read-only (no form fields).
        return request.user.has_perm("projects.change_annotatorstanding")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.action(description=_("Un-pause in the project (waives a failed entry exam)"))
    def unpause(self, request: HttpRequest, queryset: QuerySet[AnnotatorQuality]) -> None:
        done = 0
        for row in queryset.select_related("project"):
            annotator_unpause(
                project=row.project, annotator_id=row.annotator_id, note=f"un-paused by {request.user}"
            )
            done += 1
        self.message_user(
            request,
            ngettext("%(n)d annotator un-paused.", "%(n)d annotators un-paused.", done) % {"n": done},
            messages.SUCCESS,
        )


@admin.register(Result)
class ResultAdmin(ReadOnlyAdmin):
    list_display = (
        "item",
        "project",
        "method",
        "agreement",
        "confidence",
        "annotations_used",
        "rejected",
        "updated_at",
    )
    list_filter = ("method", "rejected")
    raw_id_fields = ("item", "project")
    list_select_related = ("item",)
    show_full_result_count = False


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = (
        "item",
        "project",
        "reason",
        "proposed_method",
        "proposed_agreement",
        "outcome",
        "reviewer",
        "decided_at",
    )
    list_filter = ("outcome", ("decided_at", admin.EmptyFieldListFilter), "project")
    raw_id_fields = ("item", "project", "reviewer")
    list_select_related = ("item", "reviewer")


@admin.register(GoldJudgement)
class GoldJudgementAdmin(ReadOnlyAdmin):
    list_display = ("annotation", "item", "annotator", "correct", "score", "judged_at")
    list_filter = ("correct",)
    raw_id_fields = ("annotation", "item", "annotator", "project")
    search_fields = ("=annotator__code",)
    show_full_result_count = False


@admin.register(EntryExam)
class EntryExamAdmin(ReadOnlyAdmin):
    list_display = ("annotator", "project", "status", "correct", "answered", "decided_at", "note")
    list_filter = ("status",)
    raw_id_fields = ("annotator", "project")
    search_fields = ("=annotator__code",)
