"""Annotators in the admin. Personal data shows masked everywhere; the
unmasked values are on a separate page that needs its own permission and
leaves a PersonalDataAccess row each time (PIPL)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _

from qianbiao.core.admin_import import ImportAdminMixin
from qianbiao.core.crypto import pii_digest
from qianbiao.core.validators import normalize_id_card

from .forms import PERSONAL_FIELDS, AnnotatorAddForm, AnnotatorChangeForm
from .imports import AnnotatorImporter
from .models import (
    Annotator,
    AnnotatorLanguage,
    AnnotatorSkill,
    AnnotatorStatus,
    Employment,
    Language,
    PersonalDataAccess,
)
from .services import annotator_hire, annotator_personal_data_update

VIEW_PERSONAL_DATA = "workforce.view_personal_data"
ID_CARD_RE = re.compile(r"^\d{17}[\dX]$")
# Fields the change form writes directly; personal data goes through the service.
EDITABLE_FIELDS = frozenset(AnnotatorChangeForm._meta.fields) - set(PERSONAL_FIELDS)


@admin.register(Language)
class LanguageAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "english_name", "is_minority", "code_confirmed")
    list_filter = ("is_minority", "code_confirmed")
    search_fields = ("code", "name", "english_name")


class AnnotatorSkillInline(admin.TabularInline):
    model = AnnotatorSkill
    extra = 0


class AnnotatorLanguageInline(admin.TabularInline):
    model = AnnotatorLanguage
    extra = 0
    autocomplete_fields = ("language",)


class EmploymentInline(admin.TabularInline):
    """Read-only: transfers, leaving and rehiring go through the services so
    that a spell is closed and the next one opened, never edited."""

    model = Employment
    extra = 0
    can_delete = False
    fields = ("started_on", "ended_on", "facility", "employer", "end_reason")
    readonly_fields = fields
    ordering = ("started_on",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Employment]:
        return super().get_queryset(request).select_related("facility", "employer")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Annotator)
class AnnotatorAdmin(ImportAdminMixin, admin.ModelAdmin):
    importer_class = AnnotatorImporter
    list_display = (
        "code",
        "name",
        "masked_id_card",
        "masked_phone",
        "facility",
        "employer",
        "skill_level",
        "status",
        "is_reviewer",
    )
    list_filter = (
        "facility__region",
        "facility__park",
        ("facility", admin.RelatedOnlyFieldListFilter),
        "facility__grade",
        "skills__task_type",
        "languages__language",
        "status",
        "skill_level",
        ("employer", admin.RelatedOnlyFieldListFilter),
        "is_reviewer",
    )
    list_select_related = ("facility", "employer")
    search_fields = ("code", "name")
    search_help_text = _("Name, annotator number, or an exact resident ID-card number.")
    autocomplete_fields = ("employer", "facility")
    # Counting 20,000 rows again on every filtered page buys nothing.
    show_full_result_count = False
    list_per_page = 50

    add_fieldsets = (
        (None, {"fields": ("code", "name", "skill_level", "is_reviewer")}),
        (_("Employment"), {"fields": ("employer", "facility", "started_on")}),
        (_("Personal data"), {"fields": PERSONAL_FIELDS}),
    )
    change_fieldsets = (
        (None, {"fields": ("code", "name", "status", "skill_level", "is_reviewer")}),
        (
            _("Employment"),
            {
                "fields": ("employer", "facility"),
                "description": _(
                    "Changed only by a transfer, so that the employment history stays complete."
                ),
            },
        ),
        (_("Personal data"), {"fields": ("masked_id_card", "masked_phone", *PERSONAL_FIELDS)}),
    )
    change_readonly_fields = ("employer", "facility", "masked_id_card", "masked_phone")

    @admin.display(description=_("resident ID-card number"))
    def masked_id_card(self, obj: Annotator) -> str:
        return obj.id_card_masked

    @admin.display(description=_("mobile phone"))
    def masked_phone(self, obj: Annotator) -> str:
        return obj.phone_masked

    # --- forms ---------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Annotator | None = None) -> Any:
        if obj is None:
            return self.add_fieldsets
        if not self.has_change_permission(request, obj):
            # A read-only page renders every field from the instance: the
            # plain personal fields must not be among them.
            return tuple(
                (name, {**options, "fields": [f for f in options["fields"] if f not in PERSONAL_FIELDS]})
                for name, options in self.change_fieldsets
            )
        return self.change_fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Annotator | None = None) -> Any:
        if obj is None:
            return ()
        if obj.status == AnnotatorStatus.LEFT:
            return (*self.change_readonly_fields, "status")
        return self.change_readonly_fields

    def get_exclude(self, request: HttpRequest, obj: Annotator | None = None) -> Any:
        # Excluded from the model form so that the stored values are neither
        # rendered as initial data nor copied onto the instance; the form
        # declares empty inputs of the same names instead.
        return PERSONAL_FIELDS

    def get_form(
        self, request: HttpRequest, obj: Annotator | None = None, change: bool = False, **kwargs: Any
    ):
        kwargs["form"] = AnnotatorChangeForm if obj is not None else AnnotatorAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Annotator | None) -> Any:
        if obj is None:
            return (AnnotatorSkillInline, AnnotatorLanguageInline)
        return (AnnotatorSkillInline, AnnotatorLanguageInline, EmploymentInline)

    def save_model(self, request: HttpRequest, obj: Annotator, form: ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            # Hiring opens the employment history; the admin's instance then
            # stands for the hired annotator so that inlines attach to it.
            hired = annotator_hire(
                code=obj.code,
                name=obj.name,
                id_card_number=data["id_card_number"],
                phone=data.get("phone", ""),
                employer=obj.employer,
                facility=obj.facility,
                started_on=data["started_on"],
                skill_level=obj.skill_level,
                is_reviewer=obj.is_reviewer,
            )
            obj.pk = hired.pk
            obj.id_card_number, obj.phone, obj.id_card_digest = (
                hired.id_card_number,
                hired.phone,
                hired.id_card_digest,
            )
            obj.created_at = hired.created_at
            obj._state.adding = False
            obj._state.db = hired._state.db
            return
        # Saving only what changed: a full save would re-encrypt personal
        # data nobody touched.
        changed = [name for name in form.changed_data if name in EDITABLE_FIELDS]
        if changed:
            obj.save(update_fields=changed)
        annotator_personal_data_update(
            annotator=obj,
            id_card_number=data.get("id_card_number") or "",
            phone=data.get("phone") or "",
        )

    # --- search --------------------------------------------------------------

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Annotator], search_term: str
    ) -> tuple[QuerySet[Annotator], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # Copied numbers often come grouped as 6-8-4 with spaces.
        term = normalize_id_card(re.sub(r"\s+", "", search_term))
        if ID_CARD_RE.match(term):
            # Ciphertext cannot be searched; its keyed digest can, by exact value.
            results |= queryset.filter(id_card_digest=pii_digest(term))
        return results, may_have_duplicates

    # --- revealing personal data --------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/reveal/",
                self.admin_site.admin_view(self.reveal_view),
                name=f"{opts.app_label}_{opts.model_name}_reveal",
            ),
            *super().get_urls(),
        ]

    def reveal_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(VIEW_PERSONAL_DATA):
            raise PermissionDenied
        annotator = self.get_object(request, object_id)
        if annotator is None:
            raise Http404
        if not self.has_view_permission(request, annotator):
            raise PermissionDenied
        revealed = request.method == "POST"
        if revealed:
            # Logged only when the values are actually shown, never on the
            # confirmation page a link or a prefetch can open.
            PersonalDataAccess.objects.create(
                user=request.user, annotator=annotator, fields=",".join(PERSONAL_FIELDS)
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Personal data of %(annotator)s") % {"annotator": annotator},
            "opts": self.opts,
            "original": annotator,
            "revealed": revealed,
        }
        return TemplateResponse(request, "admin/workforce/annotator/reveal.html", context)


@admin.register(PersonalDataAccess)
class PersonalDataAccessAdmin(admin.ModelAdmin):
    """The access log is evidence: nobody edits or deletes it here."""

    list_display = ("seen_at", "user", "annotator", "fields")
    list_select_related = ("user", "annotator")
    list_filter = (("user", admin.RelatedOnlyFieldListFilter),)
    date_hierarchy = "seen_at"
    search_fields = ("user__username", "annotator__code", "annotator__name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
