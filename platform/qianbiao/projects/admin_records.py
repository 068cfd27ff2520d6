"""Admin for the distributor's records: items, assignments, runs and standings.

They are read-only here (standings aside: a PM may pause by hand), because every
change to them goes through a service that keeps the invariants. Tables that reach
millions of rows never count themselves in full for a page."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .explain import assignment_explain
from .models import AnnotatorStanding, Assignment, DistributionRun, Item


class EstimatedCountPaginator(Paginator):
    """An unfiltered list of a big table shows PostgreSQL's estimate of its size
    instead of counting millions of rows for every page."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > 100_000:
                return int(row[0])
        return super().count


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Item)
class ItemAdmin(ReadOnlyAdmin):
    """Items arrive through the import service; here they are looked at, and
    any (item, annotator) decision can be explained."""

    list_display = ("id", "external_id", "project", "state", "is_gold", "created_at")
    list_filter = ("state", "is_gold", "project")
    search_fields = ("=external_id",)
    list_select_related = ("project",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = (
        "project",
        "external_id",
        "data",
        "is_gold",
        "gold_answer",
        "state",
        "created_at",
        "links",
    )

    @admin.display(description=_("work"))
    def links(self, obj: Item) -> str:
        assignments = reverse("admin:projects_assignment_changelist") + f"?item__id__exact={obj.pk}"
        explain = reverse("admin:projects_item_explain", args=[obj.pk])
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            assignments,
            _("assignments of this item"),
            explain,
            _("explain for an annotator"),
        )

    def get_urls(self):
        return [
            path(
                "<int:item_id>/explain/",
                self.admin_site.admin_view(self.explain_view),
                name="projects_item_explain",
            )
        ] + super().get_urls()

    def explain_view(self, request: HttpRequest, item_id: int):
        """Why did (or didn't) annotator X get this item: ?annotator=<id>."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        item = get_object_or_404(Item, pk=item_id)
        explanation = None
        raw = request.GET.get("annotator", "").strip()
        error = ""
        if raw:
            from qianbiao.workforce.models import Annotator

            annotator = Annotator.objects.filter(pk=raw).first() if raw.isdigit() else None
            annotator = annotator or Annotator.objects.filter(code=raw).first()
            if annotator is None:
                error = _("No annotator with id or number %(raw)s.") % {"raw": raw}
            else:
                explanation = assignment_explain(item_id=item.pk, annotator_id=annotator.pk).as_text()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Why did an annotator get item %(item)s?") % {"item": item},
            "item": item,
            "annotator": raw,
            "explanation": explanation,
            "error": error,
        }
        return TemplateResponse(request, "admin/projects/item/explain.html", context)


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "item",
        "annotator",
        "project",
        "slot",
        "is_gold",
        "state",
        "load_at_decision",
        "run",
        "assigned_at",
        "expires_at",
        "ended_at",
    )
    list_filter = ("state", "is_gold", "project")
    search_fields = ("=annotator__code", "=item__external_id")
    list_select_related = ("item", "annotator", "project")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    readonly_fields = ("explanation",)

    @admin.display(description=_("why this annotator got this item"))
    def explanation(self, obj: Assignment) -> str:
        return format_html(
            "<pre>{}</pre>", assignment_explain(item_id=obj.item_id, annotator_id=obj.annotator_id).as_text()
        )


@admin.register(DistributionRun)
class DistributionRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "project",
        "started_at",
        "finished_at",
        "eligible_annotators",
        "assignments_created",
        "rule",
    )
    list_filter = ("project",)
    list_select_related = ("project",)


@admin.register(AnnotatorStanding)
class AnnotatorStandingAdmin(admin.ModelAdmin):
    """Quality control pauses an annotator in a project here; saving a pause
    takes their open work in that project back at once (projects.receivers)."""

    list_display = ("annotator", "project", "quality_score", "paused", "paused_reason", "paused_at")
    list_filter = ("paused", "project")
    search_fields = ("=annotator__code",)
    raw_id_fields = ("annotator", "project")
    readonly_fields = ("paused_at",)
    list_select_related = ("annotator", "project")

    def save_model(self, request, obj: AnnotatorStanding, form, change) -> None:
        if obj.paused and obj.paused_at is None:
            obj.paused_at = timezone.now()
        if not obj.paused:
            obj.paused_at = None
        super().save_model(request, obj, form, change)
