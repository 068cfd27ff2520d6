"""Admin for dataset projects and their work.

A project is created and changed through projects.services, as over the API:
its form shows the services' rules on their fields (projects.forms).

Assignments and runs are read-only here: they are the distributor's record, and
every change to them goes through a service that keeps the invariants. Tables
that reach millions of rows (items, assignments) never count themselves in
full for a page, and foreign keys to 20,000 annotators are raw ids, never
dropdowns.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from qianbiao.workforce.models import TaskType

from . import admin_records  # noqa: F401  (registers the records' admins)
from .admin_items import ItemsUploadForm, UploadRefused, items_upload_file, label_config_templates
from .admin_items import project_work_status as _work_status
from .forms import DatasetProjectForm, project_settings
from .lifecycle import project_set_status
from .models import (
    DatasetProject,
    Item,
    ItemState,
    ProjectStatus,
)
from .progress import project_progress
from .services import project_create, project_update


def _item_counts(obj: DatasetProject) -> dict[str, int]:
    """Ordinary items per state, one index-only query per project, cached on the row."""
    cached = getattr(obj, "_item_counts", None)
    if cached is None:
        cached = {state: 0 for state in ItemState.values}
        rows = (
            Item.objects.filter(project=obj, is_gold=False)
            .values_list("state")
            .annotate(n=Count("pk"))
            .order_by()
        )
        cached.update(dict(rows))
        obj._item_counts = cached
    return cached


def _adopt(obj: DatasetProject, saved: DatasetProject) -> None:
    """Make the admin's instance stand for the row the service saved."""
    for field in DatasetProject._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding, obj._state.db = False, saved._state.db


@admin.register(DatasetProject)
class DatasetProjectAdmin(admin.ModelAdmin):
    form = DatasetProjectForm
    list_display = (
        "name",
        "client",
        "status",
        "priority",
        "overlap",
        "pending",
        "assigned",
        "annotated",
        "accepted",
        "deadline",
    )
    list_filter = ("status", "domain", "task_type", "min_grade")
    list_editable = ("priority",)
    search_fields = ("name", "client__name")
    raw_id_fields = ("client",)
    readonly_fields = ("created_at", "progress", "work_status")
    actions = ("pause", "resume", "distribute_now")
    change_form_template = "admin/projects/datasetproject/change_form.html"
    fieldsets = (
        (None, {"fields": ("client", "name", "domain", "task_type", "label_config", "status", "priority")}),
        (
            _("Distribution"),
            {
                "fields": (
                    "overlap",
                    "gold_ratio",
                    "agreement_threshold",
                    "daily_quota",
                    "open_cap",
                    "assignment_ttl_hours",
                    "deadline",
                )
            },
        ),
        (
            _("Who may work on it"),
            {
                "fields": (
                    "min_grade",
                    "min_skill_proficiency",
                    "required_language",
                    "min_language_proficiency",
                )
            },
        ),
        (_("Progress"), {"fields": ("progress", "work_status", "created_at")}),
    )

    class Media:
        js = ("projects/label_config_template.js",)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "task_type" and field is not None:
            # The page swaps in the chosen type's template while the config is untouched.
            field.widget.attrs["data-label-config-templates"] = json.dumps(label_config_templates())
        return field

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        task_type = initial.get("task_type") or TaskType.TEXT_CLASSIFICATION
        initial.setdefault("task_type", task_type)
        initial.setdefault("label_config", label_config_templates().get(task_type, ""))
        return initial

    @admin.display(description=_("work in Label Studio"))
    def work_status(self, obj: DatasetProject) -> str:
        return "—" if obj.pk is None else _work_status(obj)

    def get_urls(self):
        return [
            path(
                "<int:project_id>/items/upload/",
                self.admin_site.admin_view(self.items_upload_view),
                name="projects_datasetproject_items_upload",
            ),
            *super().get_urls(),
        ]

    def items_upload_view(self, request: HttpRequest, project_id: int):
        project = get_object_or_404(DatasetProject, pk=project_id)
        if not self.has_change_permission(request, project):
            raise PermissionDenied
        form = ItemsUploadForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                imported = items_upload_file(project=project, name=upload.name, content=upload.read())
            except UploadRefused as exc:
                errors = exc.errors
            else:
                self.message_user(
                    request,
                    ngettext("%d item imported.", "%d items imported.", imported) % imported,
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:projects_datasetproject_change", args=[project.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": project,
            "title": _("Upload items to %(project)s") % {"project": project.name},
            "form": form,
            "errors": errors,
        }
        return TemplateResponse(request, "admin/projects/datasetproject/items_upload.html", context)

    def get_changelist_form(self, request: HttpRequest, **kwargs):
        # The list's editable priority goes through the same form and service.
        return super().get_changelist_form(request, form=DatasetProjectForm, **kwargs)

    def save_model(self, request: HttpRequest, obj: DatasetProject, form, change: bool) -> None:
        # The form's clean() ran the same rules; the service runs them again
        # on the locked row and saves only what changed.
        data = project_settings(form)
        if change:
            saved = project_update(project=obj, data=data, may_complete=True)
        else:
            enterprise = data.pop("client")
            saved = project_create(enterprise=enterprise, data=data)
        _adopt(obj, saved)

    @admin.display(description=_("pending"))
    def pending(self, obj: DatasetProject) -> int:
        return _item_counts(obj)[ItemState.PENDING]

    @admin.display(description=_("assigned"))
    def assigned(self, obj: DatasetProject) -> int:
        return _item_counts(obj)[ItemState.ASSIGNED]

    @admin.display(description=_("annotated"))
    def annotated(self, obj: DatasetProject) -> int:
        return _item_counts(obj)[ItemState.ANNOTATED] + _item_counts(obj)[ItemState.REVIEW]

    @admin.display(description=_("accepted"))
    def accepted(self, obj: DatasetProject) -> int:
        return _item_counts(obj)[ItemState.ACCEPTED]

    @admin.display(description=_("progress"))
    def progress(self, obj: DatasetProject) -> str:
        if obj.pk is None:
            return "—"
        p = project_progress(project=obj)
        items = ", ".join(f"{ItemState(k).label}: {v}" for k, v in p.items_by_state.items())
        work = ", ".join(f"{k}: {v}" for k, v in p.assignments_by_state.items())
        return format_html(
            "{}<br>{}: {}<br>{}: {}<br>{}: {}",
            _("%(n)d ordinary items") % {"n": p.items_total},
            _("items"),
            items,
            _("gold items"),
            p.gold_items,
            _("assignments"),
            work,
        )

    @admin.action(description=_("Pause the selected projects"))
    def pause(self, request: HttpRequest, queryset) -> None:
        changed = 0
        for project in queryset.filter(status=ProjectStatus.ACTIVE):
            project_set_status(project=project, status=ProjectStatus.PAUSED)
            changed += 1
        self.message_user(
            request,
            ngettext("%d project paused.", "%d projects paused.", changed) % changed,
            messages.SUCCESS,
        )

    @admin.action(description=_("Resume the selected projects"))
    def resume(self, request: HttpRequest, queryset) -> None:
        changed = 0
        # Saving an active project enqueues its distribution (projects.receivers).
        # A completed project is not reopened (projects.services' rule).
        for project in queryset.exclude(status__in=(ProjectStatus.ACTIVE, ProjectStatus.COMPLETED)):
            project_set_status(project=project, status=ProjectStatus.ACTIVE)
            changed += 1
        self.message_user(
            request,
            ngettext("%d project resumed.", "%d projects resumed.", changed) % changed,
            messages.SUCCESS,
        )

    @admin.action(description=_("Distribute the selected projects now"))
    def distribute_now(self, request: HttpRequest, queryset) -> None:
        from workers import enqueue

        active = list(queryset.filter(status=ProjectStatus.ACTIVE).values_list("pk", flat=True))
        for project_id in active:
            enqueue.distribute_project(project_id)
        skipped = queryset.count() - len(active)
        self.message_user(
            request,
            _("Distribution enqueued for %(n)d project(s); %(skipped)d not active, skipped.")
            % {"n": len(active), "skipped": skipped},
            messages.SUCCESS,
        )
