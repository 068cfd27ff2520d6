from django.contrib import admin

from qianbiao.core.admin_import import ImportAdminMixin

from .imports import EnterpriseImporter
from .models import Enterprise


@admin.register(Enterprise)
class EnterpriseAdmin(ImportAdminMixin, admin.ModelAdmin):
    importer_class = EnterpriseImporter
    list_display = ("name", "credit_code", "role", "home_city", "is_sample")
    list_filter = ("role", "is_sample", "home_city")
    search_fields = ("name", "credit_code")
    readonly_fields = ("created_at",)
