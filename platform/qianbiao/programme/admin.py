from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from qianbiao.core.admin_import import ImportAdminMixin

from .imports import FacilityImporter
from .models import Facility, GradeRubric, HeadcountTarget, Park, Region


@admin.register(GradeRubric)
class GradeRubricAdmin(admin.ModelAdmin):
    list_display = (
        "grade",
        "min_seats",
        "requires_physical_security",
        "requires_network_isolation",
        "requires_security_certification",
    )


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "short_name", "has_official_code", "is_autonomous", "specialisation")
    list_filter = ("is_autonomous", "has_official_code")
    search_fields = ("code", "name", "short_name")


@admin.register(Park)
class ParkAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "region", "is_provincial", "name_confirmed")
    list_filter = ("region", "is_provincial", "name_confirmed")
    list_select_related = ("region",)
    search_fields = ("code", "name")
    autocomplete_fields = ("region",)


@admin.register(Facility)
class FacilityAdmin(ImportAdminMixin, admin.ModelAdmin):
    importer_class = FacilityImporter
    list_display = (
        "code",
        "name",
        "region",
        "park",
        "operator",
        "grade",
        "seats",
        "physical_security",
        "network_isolated",
    )
    list_filter = (
        "region",
        "park",
        "grade",
        ("operator", admin.RelatedOnlyFieldListFilter),
        "physical_security",
        "network_isolated",
    )
    list_select_related = ("region", "park", "operator")
    search_fields = ("code", "name")
    autocomplete_fields = ("region", "park", "operator")
    fieldsets = (
        (None, {"fields": ("code", "name", "region", "park", "operator", "opened_on")}),
        (
            _("Grade"),
            {
                "fields": (
                    "grade",
                    "seats",
                    "physical_security",
                    "network_isolated",
                    "security_certification",
                ),
                "description": _("The grade must be met by the grade rubric of the same name."),
            },
        ),
    )


@admin.register(HeadcountTarget)
class HeadcountTargetAdmin(admin.ModelAdmin):
    list_display = ("year", "scope", "unit", "kind", "number", "source")
    list_filter = ("year", "scope", "kind", "region")
    list_select_related = ("region", "park", "facility")
    autocomplete_fields = ("region", "park", "facility")
    search_fields = ("region__name", "park__name", "facility__name", "source")

    @admin.display(description=_("unit"))
    def unit(self, obj: HeadcountTarget) -> str:
        return obj.unit_name
