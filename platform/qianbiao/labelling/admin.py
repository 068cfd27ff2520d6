"""Read-mostly admin for what came back from Label Studio."""

from __future__ import annotations

from django.contrib import admin

from qianbiao.labelling.models import (
    Annotation,
    LabelStudioAccount,
    LabelStudioEvent,
    LabelStudioProject,
    LabelStudioQueue,
)


@admin.register(LabelStudioProject)
class LabelStudioProjectAdmin(admin.ModelAdmin):
    list_display = ("project", "shard", "ls_project_id", "task_count", "created_at")
    list_select_related = ("project",)
    readonly_fields = [f.name for f in LabelStudioProject._meta.fields]


@admin.register(LabelStudioAccount)
class LabelStudioAccountAdmin(admin.ModelAdmin):
    list_display = ("annotator", "email", "ls_user_id", "is_active", "created_at")
    list_filter = ("is_active",)
    list_select_related = ("annotator",)
    raw_id_fields = ("annotator",)
    readonly_fields = ("annotator", "ls_user_id", "email", "routing_key", "created_at")


@admin.register(LabelStudioQueue)
class LabelStudioQueueAdmin(admin.ModelAdmin):
    list_display = ("account", "ls_project", "ls_view_id")
    raw_id_fields = ("account", "ls_project")


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = (
        "ls_annotation_id", "project", "assignment", "annotator", "flagged", "lead_time_s", "received_via",
        "received_at", "deleted_at",
    )  # fmt: skip
    list_filter = ("flagged", "received_via", "was_cancelled")
    raw_id_fields = ("assignment", "project", "item", "annotator")
    search_fields = ("=ls_annotation_id", "=ls_task_id")
    readonly_fields = [f.name for f in Annotation._meta.fields]


@admin.register(LabelStudioEvent)
class LabelStudioEventAdmin(admin.ModelAdmin):
    list_display = ("id", "action", "ls_project_id", "received_at", "processed_at")
    list_filter = ("action",)
    readonly_fields = [f.name for f in LabelStudioEvent._meta.fields]
